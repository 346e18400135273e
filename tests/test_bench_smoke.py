"""Each benchmark of bench/, run briefly as a smoke test: it starts, its targets agree, and it
prints its table. No timing is asserted (CI machines are shared); the numbers belong in
bench/README.md. The benchmarks make their own databases: run once, on the SQLite pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.sqlite_only


def bench(*args: str) -> str:
    run = subprocess.run(  # noqa: S603 — this interpreter on this repository's scripts
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def rows(output: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with `header`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    table = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table


@pytest.mark.timeout(240)
@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)"
)
def test_the_status_benchmark_compares_every_floor_and_signs_in() -> None:
    output = bench(
        "bench/status.py",
        "--duration",
        "1",
        "--warm-up",
        "1",
        "--clients",
        "4",
        "--rounds",
        "2",
        "--window",
        "1",
        "--history",
        "2000",
    )
    assert "stored beforehand: 2,000 sign-ins of 200 other accounts" in output
    throughput = rows(output, "| target |")
    assert [row[0] for row in throughput] == [
        "floor (two lookups)",
        "floor (same SQL)",
        "floor (one statement, query builder)",
        "graphql",
    ]
    assert all(row[-1] == "0" for row in throughput), throughput  # no failed request
    assert "signIn at argon2's pace" in output
    assert "argon2's share of the server's CPU in the signIn windows: **" in output
    pace = rows(output, "| round |")
    assert [row[0] for row in pace] == ["1", "2", "all"]
    for row in pace[:2]:
        done, sent = row[2].split("/")
        assert done == sent != "0", pace  # every sign-in succeeded
    latency = rows(output, "| twoFactorStatus |")
    assert [row[0] for row in latency] == ["no sign-in load", "20 concurrent signIn"]
    assert all(row[-1] == "0" for row in latency), latency


@pytest.mark.timeout(240)
def test_the_in_process_profile_runs_every_target() -> None:
    output = bench("bench/profile_status.py", "--requests", "100", "--profile", "5")
    table = rows(output, "| target |")
    assert [row[0] for row in table][-2:] == ["graphql", "graphql, 2 fields"]
    assert "Ordered by: cumulative time" in output


@pytest.mark.timeout(240)
def test_the_persisted_benchmark_sends_all_three_forms_of_both_queries() -> None:
    output = bench("bench/persisted.py", "--requests", "100", "--rounds", "2")
    table = [(row[0], row[1]) for row in rows(output, "| query | form |")]
    forms = ["text", "persisted query (sha256)", "trusted document (documentId)"]
    queries = ["`Status` (web client)", "six-field `twoFactorStatus`"]
    assert table == [(query, form) for query in queries for form in forms]


def test_the_persisted_benchmark_measured_process_sends_its_requests() -> None:
    # What --instructions runs under callgrind for each query and form (callgrind itself
    # takes minutes: not here).
    for form in ("text", "trusted document (documentId)"):
        bench("bench/persisted.py", "--send-only", "six-field `twoFactorStatus`", form, "3")


@pytest.mark.timeout(240)
def test_the_round_trips_benchmark_counts_statements() -> None:
    output = bench("bench/roundtrips.py")
    table = {row[0]: row[1] for row in rows(output, "| operation |")}
    assert table["twoFactorStatus"] == "1"


@pytest.mark.timeout(240)
def test_the_fan_out_benchmark_reaches_every_subscriber() -> None:
    output = bench("bench/subscribers.py", "20")
    assert rows(output, "| subscribers |")[0][0] == "20"
