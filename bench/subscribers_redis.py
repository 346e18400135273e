"""Fan-out of one notification across two server processes through Redis.

    .venv/bin/python bench/subscribers_redis.py [N ...]        (default: 1000 5000)

Two `python server.py serve` processes (one worker each), A and B, share one PostgreSQL
database (created for the run and dropped after it, on BENCH_POSTGRES_URL, default the
machine's 127.0.0.1:5432) and one Redis (BENCH_REDIS_URL, default 127.0.0.1:6379/0).
Half of the N subscribers of one account are connected to A, half to B; the mutation
that publishes the event is sent to A. Latency is from sending that mutation to each
subscriber having the event, reported per process, so what Redis adds is the difference
between B's column and A's. This process is the load generator (uvloop).
"""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import uvloop
from cryptography.fernet import Fernet
from websockets.asyncio.client import ClientConnection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import Server, percentile, server
from bench.subscribers import (
    account_with_two_factor,
    challenge,
    next_event_at,
    subscribe,
    use_backup_code,
)

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    name = f"verrou_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def connect_all(target: Server, token: str, count: int) -> list[ClientConnection]:
    connections: list[ClientConnection] = []
    url = target.url.replace("http", "ws") + "/graphql"
    for start in range(0, count, 200):
        batch = range(start, min(start + 200, count))
        connections += await asyncio.gather(*(subscribe(url, token) for _ in batch))
    return connections


async def run(a: Server, b: Server, subscribers: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=a.url, timeout=60) as client:
        token, codes = await account_with_two_factor(client)
        on_a = await connect_all(a, token, subscribers // 2)
        on_b = await connect_all(b, token, subscribers - subscribers // 2)
        everyone = on_a + on_b
        # A first event proves every subscription, on both processes, is live.
        waiting = [asyncio.create_task(next_event_at(c)) for c in everyone]
        await use_backup_code(client, await challenge(client), codes[0])
        await asyncio.gather(*waiting)

        waiting = [asyncio.create_task(next_event_at(c)) for c in everyone]
        pending = await challenge(client)  # its argon2 hash before the clock starts
        await asyncio.sleep(0.2)
        sent = time.perf_counter()
        await use_backup_code(client, pending, codes[1])
        arrivals = await asyncio.gather(*waiting)
        latencies = [(arrival - sent) * 1000 for arrival in arrivals]
        await asyncio.gather(*(c.close() for c in everyone))
    latency_a, latency_b = latencies[: len(on_a)], latencies[len(on_a) :]
    return {
        "subscribers": subscribers,
        "a_p50": percentile(latency_a, 0.50),
        "a_p99": percentile(latency_a, 0.99),
        "b_p50": percentile(latency_b, 0.50),
        "b_p99": percentile(latency_b, 0.99),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
    }


async def measure(count: int) -> dict[str, float]:
    async with scratch_database() as database_url:
        shared = {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
        # One after the other: the first applies the migrations, the second finds them done.
        with server(**shared) as a, server(**shared) as b:
            return await run(a, b, count)


def main() -> None:
    counts = [int(arg) for arg in sys.argv[1:]] or [1000, 5000]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(
        "| subscribers (A + B) | A p50 (ms) | A p99 (ms) | B p50 (ms) | B p99 (ms) "
        "| all p99 (ms) | max (ms) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in counts:
        # uvloop: the load generator must not be what the latency measures.
        row = uvloop.run(measure(count))
        print(
            f"| {count // 2} + {count - count // 2} | {row['a_p50']:.1f} | {row['a_p99']:.1f} "
            f"| {row['b_p50']:.1f} | {row['b_p99']:.1f} | {row['p99']:.1f} | {row['max']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
