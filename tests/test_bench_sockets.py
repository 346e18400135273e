"""bench/sockets.py, run briefly as a smoke test: it seeds, connects both protocols, publishes,
and finds every event at every socket of its account. No timing is asserted: CI machines
are shared, and the benchmark's numbers belong in bench/README.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The benchmark makes its own SQLite database: once is enough, not again in the PostgreSQL pass.
pytestmark = pytest.mark.sqlite_only


def test_the_sockets_benchmark_delivers_every_event_to_every_socket_of_its_account() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "bench/sockets.py",
            "--accounts",
            "50",
            "--sockets",
            "100",
            "--rate",
            "20",
            "--duration",
            "2",
            "--pollers",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith("| 50 | 100 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    accounts, sockets, events, misses, failed = (int(cell) for cell in cells[:5])
    assert (accounts, sockets, events, misses, failed) == (50, 100, 40, 0, 0)
