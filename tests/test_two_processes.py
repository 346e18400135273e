"""Two real server processes on one PostgreSQL database and one Redis act as one service."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pyotp
import pytest
from redis.asyncio import Redis

from schema.global_id import from_global_id
from services.redis_broker import channel_of
from tests.conftest import TEST_KEY, free_port
from tests.helpers import CONFIRM, PASSWORD, SIGN_IN, SIGN_UP, START, VERIFY_SIGN_IN
from tests.postgres import POSTGRES_URL, scratch_database
from tests.redis_server import REDIS_SERVER, RedisServer
from tests.ws_client import Subscriber, subscriber

ROOT = Path(__file__).parents[1]
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set: skipped"),
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed: skipped"),
]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    assert REDIS_SERVER is not None
    server = RedisServer(REDIS_SERVER, free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with scratch_database() as database:
        yield database.url


def spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "server.py", "serve"], cwd=ROOT, env=env)


@pytest.fixture
async def processes(
    database_url: str, redis_server: RedisServer, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """The base URLs of two `server.py serve` processes sharing the database and Redis."""
    started: list[subprocess.Popen[bytes]] = []
    urls = []
    for name in ("a", "b"):
        port = free_port()
        env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_server.url,
            "ENCRYPTION_KEYS": TEST_KEY,
            "VAR_DIR": str(tmp_path / name),
            "LOG_LEVEL": "WARNING",
            # Both run the recovery job often, so a due recovery meets both at once.
            "RECOVERY_JOB_INTERVAL_SECONDS": "0.2",
        }
        started.append(spawn(env))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient() as probe:
            for url in urls:
                # Up to 30 s: a loaded machine takes seconds to import and start a process.
                for _ in range(600):
                    try:
                        if (await probe.get(f"{url}/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError(f"{url} never became ready")
        yield urls[0], urls[1]
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=30)


async def call(
    client: httpx.AsyncClient, query: str, variables: dict[str, object], token: str | None = None
) -> dict:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = (
        await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    ).json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def enabled_account(a: httpx.AsyncClient) -> tuple[str, pyotp.TOTP, list[str]]:
    token = (
        await call(a, SIGN_UP, {"input": {"email": "pair@example.com", "password": PASSWORD}})
    )["signUp"]["session"]["token"]
    totp = pyotp.TOTP(
        (await call(a, START, {"input": {"password": PASSWORD}}, token))["startTwoFactor"]["setup"][
            "secret"
        ]
    )
    confirmed = (await call(a, CONFIRM, {"input": {"code": totp.now()}}, token))["confirmTwoFactor"]
    assert confirmed["errors"] == [], confirmed
    return token, totp, confirmed["backupCodes"]


async def challenge(client: httpx.AsyncClient) -> str:
    signed_in = (
        await call(client, SIGN_IN, {"input": {"email": "pair@example.com", "password": PASSWORD}})
    )["signIn"]
    return signed_in["challenge"]["token"]  # type: ignore[no-any-return]


@asynccontextmanager
async def subscribed_on_b(
    a: httpx.AsyncClient, url_b: str, redis_server: RedisServer
) -> AsyncIterator[tuple[str, Subscriber]]:
    """An account signed up on A; its session token and a notifications subscriber on B,
    once B listens on the account's Redis channel."""
    token = (
        await call(a, SIGN_UP, {"input": {"email": "pair@example.com", "password": PASSWORD}})
    )["signUp"]["session"]["token"]
    account = from_global_id((await call(a, "{ viewer { id } }", {}, token))["viewer"]["id"])
    assert account is not None
    redis = Redis.from_url(redis_server.url)
    try:
        async with subscriber(url_b.replace("http", "ws") + "/graphql", token) as on_b:
            for _ in range(200):
                numsub = await redis.pubsub_numsub(channel_of(account[1]))
                if numsub and numsub[0][1] >= 1:
                    break
                await asyncio.sleep(0.05)
            yield token, on_b
    finally:
        await redis.aclose()


async def test_a_change_on_one_process_reaches_a_subscriber_on_the_other(
    processes: tuple[str, str], redis_server: RedisServer
) -> None:
    url_a, url_b = processes
    async with (
        httpx.AsyncClient(base_url=url_a) as a,
        subscribed_on_b(a, url_b, redis_server) as (
            token,
            on_b,
        ),
    ):
        totp = pyotp.TOTP(
            (await call(a, START, {"input": {"password": PASSWORD}}, token))["startTwoFactor"][
                "setup"
            ]["secret"]
        )
        await call(a, CONFIRM, {"input": {"code": totp.now()}}, token)
        event = (await on_b.next_event(within=10))["data"]["notifications"]
        assert event["kind"] == "TWO_FACTOR_ENABLED"


async def test_a_totp_code_accepted_on_one_process_is_refused_on_the_other(
    processes: tuple[str, str],
) -> None:
    url_a, url_b = processes
    async with httpx.AsyncClient(base_url=url_a) as a, httpx.AsyncClient(base_url=url_b) as b:
        _, totp, _ = await enabled_account(a)
        # The next step's code: within the ±1 window and after the step that confirmed.
        code = totp.at(time.time() + 30)
        accepted = (
            await call(
                a, VERIFY_SIGN_IN, {"input": {"challengeToken": await challenge(a), "code": code}}
            )
        )["verifySignIn"]
        assert accepted["errors"] == [], accepted
        replayed = (
            await call(
                b, VERIFY_SIGN_IN, {"input": {"challengeToken": await challenge(b), "code": code}}
            )
        )["verifySignIn"]
        assert [e["code"] for e in replayed["errors"]] == ["CODE_ALREADY_USED"]


async def test_one_backup_code_raced_from_both_processes_signs_in_once(
    processes: tuple[str, str],
) -> None:
    url_a, url_b = processes
    async with httpx.AsyncClient(base_url=url_a) as a, httpx.AsyncClient(base_url=url_b) as b:
        _, _, codes = await enabled_account(a)
        racers = [(a, await challenge(a)) for _ in range(4)] + [
            (b, await challenge(b)) for _ in range(4)
        ]
        results = await asyncio.gather(
            *(
                call(client, VERIFY_SIGN_IN, {"input": {"challengeToken": token, "code": codes[0]}})
                for client, token in racers
            )
        )
        sessions = [r["verifySignIn"]["session"] for r in results if r["verifySignIn"]["session"]]
        assert len(sessions) == 1


async def test_signing_out_on_one_process_closes_the_sessions_socket_on_the_other(
    processes: tuple[str, str], redis_server: RedisServer
) -> None:
    url_a, url_b = processes
    async with (
        httpx.AsyncClient(base_url=url_a) as a,
        subscribed_on_b(a, url_b, redis_server) as (
            token,
            on_b,
        ),
    ):
        await asyncio.sleep(0.2)  # B's session watch shares that channel subscription
        signed_out = await call(a, "mutation { signOut { errors { code } } }", {}, token)
        assert signed_out["signOut"]["errors"] == []
        assert await on_b.close_code(within=10) == 4403


async def test_a_due_recovery_takes_effect_once_while_both_processes_run_the_job(
    processes: tuple[str, str], database_url: str
) -> None:
    """Issue 12's waiting period across processes: a SCHEDULED request reaching its
    effective time is applied by exactly one of the two jobs (a conditional UPDATE decides)."""
    url_a, _ = processes
    async with httpx.AsyncClient(base_url=url_a) as a:
        token, _, _ = await enabled_account(a)
        found = from_global_id((await call(a, "{ viewer { id } }", {}, token))["viewer"]["id"])
    assert found is not None
    account_id = found[1]
    database = await asyncpg.connect(database_url)
    try:
        # As support's approval leaves it (the approval itself is tested through the API in
        # tests/test_recovery_waiting_period.py): due in a second, on the processes' clock.
        await database.execute(
            "INSERT INTO recovery_request (account_id, status, open_for, created_at, "
            "resolved_at, effective_at) VALUES ($1, 'SCHEDULED', $1, now(), now(), "
            "now() + interval '1 second')",
            account_id,
        )
        deadline = time.monotonic() + 30
        while (
            await database.fetchval(
                "SELECT status FROM recovery_request WHERE account_id = $1", account_id
            )
            != "APPROVED"
        ):
            assert time.monotonic() < deadline, "the recovery never took effect"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # several more passes of both jobs

        approvals = await database.fetchval(
            "SELECT count(*) FROM notification WHERE account_id = $1 "
            "AND kind = 'RECOVERY_APPROVED'",
            account_id,
        )
        events = await database.fetchval(
            "SELECT count(*) FROM security_event WHERE account_id = $1 "
            "AND kind = 'RECOVERY_APPROVED'",
            account_id,
        )
        two_factor = await database.fetchval(
            "SELECT count(*) FROM two_factor WHERE account_id = $1", account_id
        )
        open_sessions = await database.fetchval(
            "SELECT count(*) FROM session WHERE account_id = $1 AND revoked_at IS NULL",
            account_id,
        )
    finally:
        await database.close()
    assert (approvals, events, two_factor, open_sessions) == (1, 1, 0, 0)
