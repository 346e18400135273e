"""Fan-out of one notification to N live subscribers of one account, on one worker.

    .venv/bin/python bench/subscribers.py [N ...]        (default: 1000 5000)

The server runs in its own process; this process is the load generator. Latency is from
the moment the mutation that publishes the event is sent to the moment each subscriber
has the event; memory is the server's resident memory per open subscription.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pyotp
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import PASSWORD, Server, percentile, quiet_collector, server

SUBSCRIPTION = (
    "subscription { notifications { id kind level message "
    "account { twoFactor { enabled backupCodesRemaining } } } }"
)


async def gql(client: httpx.AsyncClient, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    data: dict[str, Any] = response.json()["data"]
    return data


async def account_with_two_factor(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    sign_up = await gql(
        client,
        f'mutation {{ signUp(input: {{email: "bench@example.com", password: "{PASSWORD}"}}) '
        "{ session { token } } }",
    )
    token = sign_up["signUp"]["session"]["token"]
    setup = await gql(
        client,
        f'mutation {{ startTwoFactor(input: {{password: "{PASSWORD}"}}) '
        "{ setup { secret } } }",
        token,
    )
    code = pyotp.TOTP(setup["startTwoFactor"]["setup"]["secret"]).now()
    confirmed = await gql(
        client,
        f'mutation {{ confirmTwoFactor(input: {{code: "{code}"}}) {{ backupCodes }} }}',
        token,
    )
    return token, confirmed["confirmTwoFactor"]["backupCodes"]


async def challenge(client: httpx.AsyncClient) -> str:
    """A sign-in challenge: the password's argon2 hash is checked here, before the clock."""
    data = await gql(
        client,
        f'mutation {{ signIn(input: {{email: "bench@example.com", password: "{PASSWORD}"}}) '
        "{ challenge { token } } }",
    )
    token: str = data["signIn"]["challenge"]["token"]
    return token


async def use_backup_code(client: httpx.AsyncClient, challenge_token: str, code: str) -> None:
    """Publishes BACKUP_CODE_USED."""
    await gql(
        client,
        f'mutation {{ verifySignIn(input: {{challengeToken: "{challenge_token}", code: "{code}"}}) '
        "{ usedBackupCode } }",
    )


async def subscribe(url: str, token: str) -> ClientConnection:
    connection = await connect(url, subprotocols=[Subprotocol("graphql-transport-ws")], max_queue=4)
    await connection.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await connection.recv())
    assert ack["type"] == "connection_ack", ack
    await connection.send(
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
    )
    return connection


async def next_event_at(connection: ClientConnection) -> float:
    while True:
        message = json.loads(await connection.recv())
        if message["type"] == "next":
            return time.perf_counter()


async def run(target: Server, subscribers: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=target.url, timeout=60) as client:
        token, codes = await account_with_two_factor(client)
        rss_before = target.rss_kib()
        connections: list[ClientConnection] = []
        for start in range(0, subscribers, 200):
            batch = range(start, min(start + 200, subscribers))
            connections += await asyncio.gather(
                *(subscribe(target.url.replace("http", "ws") + "/graphql", token) for _ in batch)
            )
        # A first event proves every subscription is registered before measuring.
        waiting = [asyncio.create_task(next_event_at(c)) for c in connections]
        await use_backup_code(client, await challenge(client), codes[0])
        await asyncio.gather(*waiting)
        rss_after = target.rss_kib()
        quiet_collector()

        waiting = [asyncio.create_task(next_event_at(c)) for c in connections]
        pending = await challenge(client)
        await asyncio.sleep(0.2)
        sent = time.perf_counter()
        await use_backup_code(client, pending, codes[1])
        arrivals = await asyncio.gather(*waiting)
        latencies = [(arrival - sent) * 1000 for arrival in arrivals]
        await asyncio.gather(*(c.close() for c in connections))
    return {
        "subscribers": subscribers,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "kib_per_subscriber": (rss_after - rss_before) / subscribers,
    }


def main() -> None:
    counts = [int(arg) for arg in sys.argv[1:]] or [1000, 5000]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print("| subscribers | p50 (ms) | p99 (ms) | max (ms) | server memory per subscriber (KiB) |")
    print("|---:|---:|---:|---:|---:|")
    for count in counts:
        with server() as target:
            # uvloop: the load generator must not be what the latency measures.
            row = uvloop.run(run(target, count))
        print(
            f"| {row['subscribers']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {row['max_ms']:.1f} | {row['kib_per_subscriber']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
