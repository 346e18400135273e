"""Shared pieces of the benchmarks: a real server process on a temporary database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


@contextmanager
def server(**env: str) -> Iterator[Server]:
    """`python server.py serve` (one worker) on a fresh SQLite database."""
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
