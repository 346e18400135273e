"""Many accounts, many sockets: events spread over the live subscriptions of one worker.

    .venv/bin/python bench/sockets.py [--accounts 10000] [--sockets 20000] [--subscriptions N]
                                      [--rate 200] [--duration 30] [--pollers 4] [--postgres]
    .venv/bin/python bench/sockets.py --steps 5000,10000,15000,19000 [--step-duration 10]
    .venv/bin/python bench/sockets.py --publisher redis [...]     (events from another worker)

One server process (`python server.py serve`, one worker, SQLite in a temporary directory,
or a scratch PostgreSQL database with --postgres) and this process, the load generator, on
uvloop. The accounts and their sessions are written straight into the database before the
server starts (one precomputed argon2 hash for all, the SHA-256 of each session token; the
tokens stay here). Each account gets one to three sockets, each with a session of its own,
the two protocols alternating (graphql-transport-ws and the legacy graphql-ws), each
subscribed to `notifications { id kind message }`. With `--subscriptions` above the socket
count, some sockets carry a second `notifications` subscription on the same socket (operation
ids 1 and 2, as a client whose banner and security page subscribe each on one graphql-ws
client does), spread over both protocols: each event then has to reach every subscription
of its account. By default there are as many subscriptions as `--sockets` asked for, so a
socket count capped by the file limit (below) keeps the subscription count.

Then, for `--duration` seconds, `updateAccount` changes the company name of a random
account `--rate` times a second (sent on schedule, whether the previous answers came or
not): each change publishes an ACCOUNT_UPDATED notification whose message carries the new
name, which says which event a message is. With `--publisher redis` the server runs with
REDIS_URL (BENCH_REDIS_URL, default 127.0.0.1:6379/0) and the events come from elsewhere, as
they do when the mutations land on other workers: this process publishes each one on the
account's Redis channel, in the message another worker's `updateAccount` would publish
(`services.notifications.encode` of the same ACCOUNT_UPDATED notification), so the worker
measured only fans out. Meanwhile `--pollers` clients send
`twoFactorStatus` with a 20 ms pause between requests (bench/status.py's paced clients).

Reported: events that did not reach every subscription of their account (misses), push
latency from sending the mutation to each subscription having the event (p50, p99, max), the
status query's latency, and the server's resident memory growth per socket and per
subscription (from before the first socket to after the last one subscribed).

With --steps, one server is filled in steps (the accounts grow with the sockets, two sockets
an account) and each step is measured for --step-duration seconds: the socket count where
push p99 passes 50 ms is the one worker's capacity.

Each socket is a file descriptor in both processes: both raise their soft limit to the hard
one, and the socket count is capped below it (said in the output).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (
    PASSWORD,
    Server,
    percentile,
    quiet_collector,
    raise_file_limit,
    seeded_server,
)

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
SUBSCRIPTION = "subscription { notifications { id kind message } }"
UPDATE = (
    "mutation Bench($input: UpdateAccountInput!) "
    "{ updateAccount(input: $input) { account { companyName } } }"
)
STATUS = "{ twoFactorStatus { enabled backupCodesRemaining } }"
MARKER = re.compile(r"bench-(\d+)")
# File descriptors each process keeps besides the sockets (database, listeners, HTTP clients).
FD_RESERVE = 300
# Ports per source address: the local range is about 28,000 wide; sockets beyond this many
# come from the next loopback address.
PER_SOURCE = 20_000
P99_LIMIT_MS = 50.0


@dataclass
class Plan:
    """Who holds which socket: the account (index) and the session token of each socket."""

    accounts: int
    owners: list[int]
    tokens: list[str]
    # The operation ids subscribed on each socket: ("1",) or ("1", "2").
    operations: list[tuple[str, ...]] = field(default_factory=list)
    sockets_of: list[list[int]] = field(default_factory=list)
    # The database id of each account (index), once seeded.
    account_ids: list[int] = field(default_factory=list)


def plan(accounts: int, sockets: int, rng: random.Random, subscriptions: int = 0) -> Plan:
    """One to three sockets per account, `sockets` in all, carrying `subscriptions` (one per
    socket if 0 or fewer than the sockets): the ones past the socket count are second
    subscriptions on sockets drawn at random."""
    if not accounts <= sockets <= 3 * accounts:
        raise SystemExit(f"--sockets must be between --accounts and 3 x --accounts ({accounts})")
    subscriptions = max(subscriptions, sockets)
    if subscriptions > 2 * sockets:
        raise SystemExit(f"--subscriptions must be at most 2 x the sockets ({sockets})")
    counts = [1] * accounts
    room = [index for index in range(accounts) for _ in range(2)]
    rng.shuffle(room)
    for index in room[: sockets - accounts]:
        counts[index] += 1
    owners = [index for index in range(accounts) for _ in range(counts[index])]
    result = Plan(accounts, owners, [secrets.token_urlsafe(32) for _ in owners])
    doubled = set(rng.sample(range(sockets), subscriptions - sockets))
    result.operations = [("1", "2") if i in doubled else ("1",) for i in range(sockets)]
    result.sockets_of = [[] for _ in range(accounts)]
    for socket_index, owner in enumerate(owners):
        result.sockets_of[owner].append(socket_index)
    return result


def seed(database_url: str, layout: Plan) -> None:
    """Accounts and sessions written straight into the migrated database."""
    asyncio.run(_seed(database_url, layout))


async def _seed(database_url: str, layout: Plan) -> None:
    from argon2 import PasswordHasher
    from tortoise import Tortoise

    from models import Account, Session
    from models.accounts import Locale
    from services.crypto import token_digest
    from services.database import tortoise_config

    await Tortoise.init(config=tortoise_config(database_url))
    try:
        now = datetime.now(UTC)
        password_hash = PasswordHasher().hash(PASSWORD)  # once, for every account
        await Account.bulk_create(
            [
                Account(
                    email=f"bench{index}@example.com",
                    password_hash=password_hash,
                    billing_contact_email=f"bench{index}@example.com",
                    billing_contact_verified=True,
                    locale=Locale.EN,
                    created_at=now,
                )
                for index in range(layout.accounts)
            ],
            batch_size=1000,
        )
        ids = {
            email: account_id
            for account_id, email in await Account.all().values_list("id", "email")
        }
        layout.account_ids = [ids[f"bench{index}@example.com"] for index in range(layout.accounts)]
        await Session.bulk_create(
            [
                Session(
                    token_hash=token_digest(token),
                    account_id=ids[f"bench{owner}@example.com"],
                    created_at=now,
                    expires_at=now + timedelta(days=1),
                    last_seen_at=now,
                )
                for owner, token in zip(layout.owners, layout.tokens, strict=True)
            ],
            batch_size=1000,
        )
    finally:
        await Tortoise.close_connections()


# A subscription: the socket's index and the operation's id on it.
Subscription = tuple[int, str]


@dataclass
class Arrivals:
    # event number -> {subscription: arrival time}
    events: dict[int, dict[Subscription, float]] = field(default_factory=dict)
    closed: dict[int, int | None] = field(default_factory=dict)  # socket index -> close code


async def open_socket(
    url: str, token: str, protocol: str, index: int, operations: tuple[str, ...]
) -> ClientConnection:
    source = f"127.0.0.{1 + index // PER_SOURCE}"
    connection = await connect(
        url,
        subprotocols=[Subprotocol(protocol)],
        compression=None,
        max_queue=4,
        ping_interval=None,
        open_timeout=120,
        local_addr=(source, 0),
    )
    await connection.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    while True:
        message = json.loads(await connection.recv())
        if message["type"] == "connection_ack":
            break
        if message["type"] != "ka":
            raise RuntimeError(f"socket {index}: {message}")
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    for operation in operations:
        await connection.send(
            json.dumps({"id": operation, "type": kind, "payload": {"query": SUBSCRIPTION}})
        )
    return connection


async def read(connection: ClientConnection, index: int, arrivals: Arrivals) -> None:
    try:
        async for raw in connection:
            now = time.perf_counter()
            message = json.loads(raw)
            if message["type"] not in ("next", "data"):
                continue
            payload = message["payload"]
            if payload.get("errors"):
                raise RuntimeError(f"socket {index}: {payload['errors']}")
            found = MARKER.search(payload["data"]["notifications"]["message"])
            if found is not None:
                arrivals.events.setdefault(int(found.group(1)), {})[index, message["id"]] = now
    except ConnectionClosed as closed:
        arrivals.closed[index] = closed.rcvd.code if closed.rcvd else None
        return
    arrivals.closed[index] = None


def open_subscribed(target: Server) -> int:
    response = httpx.get(f"{target.url}/metrics")
    for line in response.text.splitlines():
        if line.startswith("verrou_open_subscriptions "):
            return int(float(line.split()[1]))
    raise RuntimeError("no verrou_open_subscriptions on /metrics")


@dataclass
class Load:
    """The sockets opened so far and what they received."""

    target: Server
    layout: Plan
    # None: events come from updateAccount mutations sent to the target.
    publisher: RedisPublisher | None = None
    arrivals: Arrivals = field(default_factory=Arrivals)
    connections: list[ClientConnection] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self, count: int) -> None:
        """Open sockets up to `count` (in the plan's order) and wait until each of their
        subscriptions is registered."""
        url = self.target.url.replace("http", "ws") + "/graphql"
        while len(self.connections) < count:
            start = len(self.connections)
            batch = range(start, min(start + 200, count))
            self.connections += await asyncio.gather(
                *(
                    open_socket(
                        url,
                        self.layout.tokens[i],
                        TRANSPORT_WS if i % 2 == 0 else LEGACY_WS,
                        i,
                        self.layout.operations[i],
                    )
                    for i in batch
                )
            )
            self.readers += [
                asyncio.create_task(read(self.connections[i], i, self.arrivals)) for i in batch
            ]
        subscriptions = sum(len(ids) for ids in self.layout.operations[:count])
        for _ in range(600):
            if await asyncio.to_thread(open_subscribed, self.target) >= subscriptions:
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the subscriptions did not all register")
        await asyncio.sleep(1.0)  # each new group's stream subscribes to the broker
        quiet_collector()

    async def close(self) -> None:
        if self.publisher is not None:
            await self.publisher.close()
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*(c.close() for c in self.connections), return_exceptions=True)


async def poll_status(
    client: httpx.AsyncClient, token: str, until: float, out: list[float]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while time.perf_counter() < until:
        sent = time.perf_counter()
        response = await client.post("/graphql", json={"query": STATUS}, headers=headers)
        out.append((time.perf_counter() - sent) * 1000)
        if response.status_code != 200 or "errors" in response.json():
            raise RuntimeError(f"twoFactorStatus: {response.status_code} {response.text}")
        await asyncio.sleep(0.020)


async def publish(
    client: httpx.AsyncClient, token: str, number: int, sent: dict[int, float], failed: list[str]
) -> None:
    sent[number] = time.perf_counter()
    response = await client.post(
        "/graphql",
        json={"query": UPDATE, "variables": {"input": {"companyName": f"bench-{number}"}}},
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code != 200 or "errors" in response.json():
        failed.append(response.text[:200])


class RedisPublisher:
    """Events as another worker publishes them: the ACCOUNT_UPDATED message of a company
    name change, on the account's channel (what `changes.account_change` sends after its
    commit), straight to Redis."""

    def __init__(self, url: str, layout: Plan) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url)
        self._layout = layout

    async def __call__(
        self, owner: int, number: int, sent: dict[int, float], failed: list[str]
    ) -> None:
        from models import Account, Notification
        from models.accounts import Locale, Role
        from services.notifications import LEVELS, NotificationKind, encode
        from services.redis_broker import channel_of
        from services.status import TwoFactorStatus

        account_id = self._layout.account_ids[owner]
        now = datetime.now(UTC)
        name = f"bench-{number}"
        account = Account(
            id=account_id,
            email=f"bench{owner}@example.com",
            company_name=name,
            billing_contact_email=f"bench{owner}@example.com",
            billing_contact_verified=True,
            locale=Locale.EN,
            role=Role.CUSTOMER,
            created_at=now,
            two_factor_enabled_at=None,
            backup_codes_generated_at=None,
        )
        notification = Notification(
            id=number + 1,
            account_id=account_id,
            kind=NotificationKind.ACCOUNT_UPDATED.value,
            level=LEVELS[NotificationKind.ACCOUNT_UPDATED],
            message_key="NOTIFICATION_ACCOUNT_UPDATED_COMPANY_NAME",
            params={"company_name": name, "company_changed": True, "locale_changed": False},
            created_at=now,
        )
        status = TwoFactorStatus(False, None, False, 0, None, None, account_id)
        message = encode(notification, account, status)
        sent[number] = time.perf_counter()
        if await self._redis.publish(channel_of(account_id), message) == 0:
            failed.append(f"event {number}: no process subscribed to account {account_id}")

    async def close(self) -> None:
        await self._redis.aclose()


async def measure(
    load: Load, connected: int, rate: float, duration: float, pollers: int, first: int
) -> dict[str, float]:
    """Events at `rate`/s for `duration` s to random accounts among the first `connected`
    sockets' owners, while `pollers` clients poll twoFactorStatus."""
    layout = load.layout
    owners = sorted({layout.owners[i] for i in range(connected)})
    rng = random.Random(first)  # noqa: S311 (which account gets an event: no secret)
    sent: dict[int, float] = {}
    failed: list[str] = []
    statuses: list[float] = []
    expected: dict[int, list[Subscription]] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(base_url=load.target.url, timeout=60, limits=limits) as client,
        httpx.AsyncClient(base_url=load.target.url, timeout=60) as status_client,
    ):
        began = time.perf_counter()
        until = began + duration
        polling = [
            asyncio.create_task(poll_status(status_client, layout.tokens[i], until, statuses))
            for i in range(pollers)
        ]
        publishing: list[asyncio.Task[None]] = []
        count = int(rate * duration)
        for offset in range(count):
            await asyncio.sleep(max(0.0, began + offset / rate - time.perf_counter()))
            number = first + offset
            owner = rng.choice(owners)
            sockets = [i for i in layout.sockets_of[owner] if i < connected]
            expected[number] = [(i, op) for i in sockets for op in layout.operations[i]]
            if load.publisher is not None:
                event = load.publisher(owner, number, sent, failed)
            else:
                event = publish(client, layout.tokens[sockets[0]], number, sent, failed)
            publishing.append(asyncio.create_task(event))
        await asyncio.gather(*publishing, *polling)
    # Every mutation has answered (or Redis took every event), so every event is published:
    # wait for the last ones on their way to the sockets, until all are there or none came
    # for 5 s.
    wanted = sum(len(subscriptions) for subscriptions in expected.values())
    arrived, still = -1, time.perf_counter()
    while arrived < wanted and time.perf_counter() - still < 5.0:
        now_arrived = sum(
            sum(1 for key in subscriptions if key in load.arrivals.events.get(number, {}))
            for number, subscriptions in expected.items()
        )
        if now_arrived != arrived:
            arrived, still = now_arrived, time.perf_counter()
        await asyncio.sleep(0.2)
    latencies: list[float] = []
    misses = 0
    for number, subscriptions in expected.items():
        got = load.arrivals.events.get(number, {})
        for key in subscriptions:
            if key in got:
                latencies.append((got[key] - sent[number]) * 1000)
            else:
                misses += 1
    return {
        "sockets": connected,
        "subscriptions": sum(len(ids) for ids in layout.operations[:connected]),
        "accounts": len(owners),
        "events": len(expected),
        "deliveries": len(latencies),
        "misses": misses,
        "failed": len(failed),
        "closed": len(load.arrivals.closed),
        "push_p50": percentile(latencies, 0.50) if latencies else float("nan"),
        "push_p99": percentile(latencies, 0.99) if latencies else float("nan"),
        "push_max": max(latencies) if latencies else float("nan"),
        "status_count": len(statuses),
        "status_p50": percentile(statuses, 0.50),
        "status_p99": percentile(statuses, 0.99),
    }


def publisher_of(layout: Plan, args: argparse.Namespace) -> RedisPublisher | None:
    return RedisPublisher(args.redis_url, layout) if args.publisher == "redis" else None


async def run_once(target: Server, layout: Plan, args: argparse.Namespace) -> dict[str, float]:
    load = Load(target, layout, publisher_of(layout, args))
    rss_before = target.rss_kib()
    opened = time.perf_counter()
    await load.open(len(layout.owners))
    opening = time.perf_counter() - opened
    rss_after = target.rss_kib()
    try:
        row = await measure(
            load, len(layout.owners), args.rate, args.duration, args.pollers, first=0
        )
    finally:
        await load.close()
    row["open_s"] = opening
    row["kib_per_socket"] = (rss_after - rss_before) / len(layout.owners)
    row["kib_per_subscription"] = (rss_after - rss_before) / row["subscriptions"]
    row["rss_mib"] = rss_after / 1024
    return row


async def run_steps(target: Server, layout: Plan, args: argparse.Namespace) -> None:
    load = Load(target, layout, publisher_of(layout, args))
    rss_before = target.rss_kib()
    first = 0
    print(
        "| sockets | accounts | events | misses | push p50 (ms) | push p99 (ms) | max (ms) "
        "| status p99 (ms) | KiB per socket |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    try:
        for step in args.steps:
            await load.open(step)
            kib = (target.rss_kib() - rss_before) / step
            row = await measure(load, step, args.rate, args.step_duration, args.pollers, first)
            first += int(row["events"]) + 1
            print(
                f"| {step} | {row['accounts']:.0f} | {row['events']:.0f} | {row['misses']:.0f} "
                f"| {row['push_p50']:.1f} | {row['push_p99']:.1f} | {row['push_max']:.1f} "
                f"| {row['status_p99']:.1f} | {kib:.1f} |",
                flush=True,
            )
            if row["push_p99"] > P99_LIMIT_MS:
                print(f"push p99 passed {P99_LIMIT_MS:.0f} ms at {step} sockets")
                return
        print(f"push p99 stayed under {P99_LIMIT_MS:.0f} ms up to {args.steps[-1]} sockets")
    finally:
        await load.close()


@asynccontextmanager
async def scratch_database(admin_url: str) -> AsyncIterator[str]:
    import asyncpg

    name = f"verrou_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        parts = urllib.parse.urlsplit(admin_url)
        yield urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--sockets", type=int, default=20_000)
    parser.add_argument(
        "--subscriptions",
        type=int,
        help="notifications subscriptions in all (default: --sockets as asked for); those past "
        "the socket count are second subscriptions on sockets drawn at random",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of events")
    parser.add_argument("--pollers", type=int, default=4, help="paced twoFactorStatus clients")
    parser.add_argument(
        "--steps",
        type=lambda text: [int(part) for part in text.split(",")],
        help="socket counts to fill one server with, in order, measuring each",
    )
    parser.add_argument("--step-duration", type=float, default=10.0)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a scratch database on BENCH_POSTGRES_URL (default 127.0.0.1:5432) instead of SQLite",
    )
    parser.add_argument(
        "--publisher",
        choices=("mutation", "redis"),
        default="mutation",
        help="where events come from: updateAccount sent to the server (default), or Redis, "
        "as from another worker (the server then runs with REDIS_URL=BENCH_REDIS_URL)",
    )
    args = parser.parse_args()
    args.redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    return args


def main() -> None:
    args = arguments()
    limit = raise_file_limit()  # before the server starts: it inherits the limit
    cap = limit - FD_RESERVE
    wanted = max(args.steps) if args.steps else args.sockets
    subscriptions = 0 if args.steps else (args.subscriptions or wanted)
    if wanted > cap:
        print(
            f"open files are limited to {limit} per process (RLIMIT_NOFILE's hard limit, which "
            f"only a privileged process raises): {wanted} sockets capped at {cap}"
        )
        wanted = cap
        if args.steps:
            args.steps = sorted({min(step, cap) for step in args.steps})
    accounts = (wanted + 1) // 2 if args.steps else min(args.accounts, wanted)
    layout = plan(accounts, wanted, random.Random(16), subscriptions)  # noqa: S311 (no secret)
    env = {"REDIS_URL": args.redis_url} if args.publisher == "redis" else {}
    if args.postgres:
        admin_url = os.environ.get(
            "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        )
        with scratch_postgres(admin_url) as database_url:
            execute(args, layout, limit, DATABASE_URL=database_url, **env)
    else:
        execute(args, layout, limit, **env)


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A scratch PostgreSQL database for the run, dropped after it."""
    loop = asyncio.new_event_loop()
    manager = scratch_database(admin_url)
    try:
        yield loop.run_until_complete(manager.__aenter__())
    finally:
        loop.run_until_complete(manager.__aexit__(None, None, None))
        loop.close()


def execute(args: argparse.Namespace, layout: Plan, limit: int, **env: str) -> None:
    with seeded_server(lambda url: seed(url, layout), **env) as target:
        print(
            f"{layout.accounts} accounts, {len(layout.owners)} sockets (both protocols "
            f"alternating) carrying {sum(len(ids) for ids in layout.operations)} "
            f"subscriptions, {args.rate:g} events/s from {args.publisher}, {args.pollers} "
            "status pollers; "
            f"open files limit {limit} per process",
            flush=True,
        )
        if args.steps:
            uvloop.run(run_steps(target, layout, args))
            return
        row = uvloop.run(run_once(target, layout, args))
    print(
        "| accounts | sockets | subscriptions | events | misses | failed | push p50 (ms) "
        "| push p99 (ms) | push max (ms) | status p50 (ms) | status p99 (ms) | KiB per socket "
        "| KiB per subscription |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {layout.accounts} | {row['sockets']:.0f} | {row['subscriptions']:.0f} "
        f"| {row['events']:.0f} "
        f"| {row['misses']:.0f} | {row['failed']:.0f} | {row['push_p50']:.1f} "
        f"| {row['push_p99']:.1f} | {row['push_max']:.1f} | {row['status_p50']:.1f} "
        f"| {row['status_p99']:.1f} | {row['kib_per_socket']:.1f} "
        f"| {row['kib_per_subscription']:.1f} |"
    )
    print(
        f"({row['deliveries']:.0f} deliveries, {row['status_count']:.0f} status requests, "
        f"{row['closed']:.0f} sockets closed early, sockets opened in {row['open_s']:.1f} s, "
        f"server RSS {row['rss_mib']:.0f} MiB)",
        flush=True,
    )
    if row["misses"] or row["failed"] or row["closed"]:
        raise SystemExit("some events did not arrive, or a mutation failed")


if __name__ == "__main__":
    main()
