"""bench/sockets.py, run briefly as a smoke test: it seeds, connects both protocols, publishes,
and finds every event at every socket of its account. No timing is asserted: CI machines
are shared, and the benchmark's numbers belong in bench/README.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.redis_server import REDIS_SERVER, RedisServer

ROOT = Path(__file__).resolve().parents[1]
# The benchmark makes its own SQLite database: once is enough, not again in the PostgreSQL pass.
pytestmark = pytest.mark.sqlite_only


SMALL_RUN = ["--accounts", "50", "--sockets", "100", "--rate", "20", "--duration", "2"]


def run_benchmark(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script and arguments
        [sys.executable, "bench/sockets.py", *SMALL_RUN, "--pollers", "2", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def assert_every_event_arrived(
    run: subprocess.CompletedProcess[str], subscriptions: int = 100
) -> None:
    assert run.returncode == 0, run.stdout + run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith("| 50 | 100 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    accounts, sockets, subscribed, events, misses, failed = (int(cell) for cell in cells[:6])
    assert (accounts, sockets, subscribed, events, misses, failed) == (
        50,
        100,
        subscriptions,
        40,
        0,
        0,
    )


def test_the_sockets_benchmark_delivers_every_event_to_every_socket_of_its_account() -> None:
    run = run_benchmark()
    assert_every_event_arrived(run)
    assert "20 events/s from mutation" in run.stdout


def test_second_subscriptions_on_a_socket_each_receive_every_event_of_their_account() -> None:
    """30 of the 100 sockets carry a second `notifications` subscription (both protocols):
    an event counts as delivered only once it reached each subscription of its account."""
    run = run_benchmark("--subscriptions", "130")
    assert_every_event_arrived(run, subscriptions=130)
    assert "100 sockets (both protocols alternating) carrying 130 subscriptions" in run.stdout


def test_events_published_on_redis_as_another_worker_would_reach_every_socket(
    tmp_path: Path,
) -> None:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: this test starts one")
    redis = RedisServer(REDIS_SERVER, free_port(), tmp_path)
    redis.start()
    try:
        run = run_benchmark("--publisher", "redis", BENCH_REDIS_URL=redis.url)
    finally:
        redis.stop()
    assert_every_event_arrived(run)
    assert "20 events/s from redis" in run.stdout
