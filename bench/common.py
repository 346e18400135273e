"""Shared pieces of the benchmarks: a real server process on a temporary database."""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    pid: int

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def server(**env: str) -> contextlib.AbstractContextManager[Server]:
    """`python server.py serve` (one worker) on a fresh SQLite database (or DATABASE_URL's)."""
    return seeded_server(None, **env)


@contextmanager
def seeded_server(seed: Callable[[str], None] | None, **env: str) -> Iterator[Server]:
    """`server`, and `seed` (when given) gets the database URL once the migrations are
    applied and before the server starts: rows a benchmark writes itself, not through the
    API."""
    with tempfile.TemporaryDirectory(prefix="verrou-bench-") as tmp:
        port = free_port()
        environment = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": f"sqlite://{tmp}/bench.sqlite3",
            "VAR_DIR": f"{tmp}/var",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        if seed is not None:
            subprocess.run(
                [sys.executable, "server.py", "migrate"], cwd=ROOT, env=environment, check=True
            )
            seed(environment["DATABASE_URL"])
        process = subprocess.Popen(
            [sys.executable, "server.py", "serve"], cwd=ROOT, env=environment
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("server did not start")
            yield Server(url=url, pid=process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def raise_file_limit() -> int:
    """The soft limit on open files raised to the hard one (a socket is a file); processes
    started afterwards (the server) inherit it. Returns the limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def quiet_collector() -> None:
    """Call in the load generator once its sockets are open, before measuring. It holds every
    client socket (about 1.5 million objects for 20,000, 400,000 for 5,000): a full
    collection of them takes 0.2 s to most of a second, during which no arrival is read and
    every latency measured grows by it (bench/subscribers.py's p99 was 300 ms instead of
    130 in one run of three). What it holds now lives until the end, so it is moved out of
    the collector's sight (gc.freeze); what measuring allocates is short-lived."""
    gc.collect()
    gc.freeze()
