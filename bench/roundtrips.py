"""Database round trips per GraphQL operation, counted from Tortoise's own SQL log.

    .venv/bin/python bench/roundtrips.py

The app runs in this process (as in the tests: its lifespan, httpx.ASGITransport) on a
fresh migrated SQLite file, with a frozen clock. Every statement Tortoise sends is logged
at DEBUG on `tortoise.db_client`; BEGIN/COMMIT/ROLLBACK are not, so they are counted
separately by wrapping the SQLite transaction wrapper's methods (here only).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from tortoise.backends.sqlite.client import SqliteTransactionWrapper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import PASSWORD
from models import Account, Notification
from server import create_app
from services.clock import FrozenClock
from services.database import apply_migrations
from services.settings import Settings

EMAIL = "roundtrips@example.com"
T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
VERBOSE = "-v" in sys.argv  # print each operation's statements

OPERATIONS = {
    "twoFactorStatus": "{ twoFactorStatus { enabled backupCodesRemaining } }",
    "viewer { twoFactor }": (
        "{ viewer { twoFactor { enabled pendingSetup backupCodesRemaining } } }"
    ),
    "viewer { notifications(first: 20) } (20 rows)": (
        "{ viewer { notifications(first: 20) { edges { node { message account { email } } } } } }"
    ),
    "viewer { securityEvents(first: 20) }": (
        "{ viewer { securityEvents(first: 20) { edges { node { kind } } } } }"
    ),
}
SIGN_IN = "mutation($i: SignInInput!) { signIn(input: $i) { challenge { token } } }"
VERIFY = (
    "mutation($i: VerifySignInInput!) { verifySignIn(input: $i) "
    "{ session { token } errors { code } } }"
)


class StatementCounter(logging.Handler):
    """Counts the SQL statements Tortoise logs (not its connection open/close lines)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []
        self.transactions = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        if not message.startswith(("Created connection", "Closed connection")):
            self.statements.append(record.getMessage()[:120])

    def reset(self) -> None:
        self.statements.clear()
        self.transactions = 0


def count_transactions(counter: StatementCounter) -> None:
    """Each BEGIN is one more round trip that the SQL log does not show."""
    begin = SqliteTransactionWrapper.begin

    async def counted_begin(self: SqliteTransactionWrapper) -> None:
        counter.transactions += 1
        await begin(self)

    # Counting is patching the driver's method: Tortoise has no hook for a BEGIN.
    SqliteTransactionWrapper.begin = counted_begin  # type: ignore[method-assign]


def attach_counter() -> StatementCounter:
    counter = StatementCounter()
    logger = logging.getLogger("tortoise.db_client")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    logger.propagate = False
    count_transactions(counter)
    return counter


async def gql(client: httpx.AsyncClient, query: str, token: str | None = None, **vars: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": vars}, headers=headers
    )
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"{query}: {body['errors']}")
    return body["data"]


async def enable_two_factor(client: httpx.AsyncClient, clock: FrozenClock) -> tuple[str, str]:
    """Sign up and turn 2FA on; the session token and the TOTP secret."""
    sign_up = "mutation($i: SignUpInput!) { signUp(input: $i) { session { token } } }"
    data = await gql(client, sign_up, i={"email": EMAIL, "password": PASSWORD})
    token = data["signUp"]["session"]["token"]
    start = "mutation($i: StartTwoFactorInput!) { startTwoFactor(input: $i) { setup { secret } } }"
    data = await gql(client, start, token, i={"password": PASSWORD})
    secret = data["startTwoFactor"]["setup"]["secret"]
    confirm = "mutation($i: ConfirmTwoFactorInput!) { confirmTwoFactor(input: $i) { backupCodes } }"
    await gql(client, confirm, token, i={"code": pyotp.TOTP(secret).at(clock.now())})
    return token, secret


async def twenty_notifications() -> None:
    """Copies of the account's latest notification, so the feed has a full page of 20."""
    account = await Account.get(email=EMAIL)
    model = await Notification.filter(account_id=account.id).order_by("-id").first()
    if model is None:
        raise RuntimeError("enabling 2FA made no notification to copy")
    existing = await Notification.filter(account_id=account.id).count()
    for _ in range(20 - existing):
        await Notification.create(
            account_id=account.id,
            kind=model.kind,
            level=model.level,
            message_key=model.message_key,
            params=model.params,
            created_at=model.created_at,
        )


async def measure(
    counter: StatementCounter, operation: Callable[[], Awaitable[Any]]
) -> tuple[int, int]:
    counter.reset()
    await operation()
    if VERBOSE:
        print("\n".join(["--", *counter.statements]))
    return len(counter.statements), counter.transactions


async def run(client: httpx.AsyncClient, counter: StatementCounter, clock: FrozenClock) -> None:
    token, secret = await enable_two_factor(client, clock)
    await twenty_notifications()
    rows: dict[str, tuple[int, int]] = {}
    for name, query in OPERATIONS.items():
        await gql(client, query, token)  # first call: any one-off cost out of the way
        rows[name] = await measure(counter, functools.partial(gql, client, query, token))
    challenge: dict[str, str] = {}

    async def sign_in() -> None:
        data = await gql(client, SIGN_IN, i={"email": EMAIL, "password": PASSWORD})
        challenge["token"] = data["signIn"]["challenge"]["token"]

    async def verify() -> None:
        code = pyotp.TOTP(secret).at(clock.now())
        data = await gql(client, VERIFY, i={"challengeToken": challenge["token"], "code": code})
        if data["verifySignIn"]["session"] is None:
            raise RuntimeError(f"verifySignIn failed: {data}")

    clock.advance(30)  # a later TOTP step than the one that confirmed the device
    rows["signIn (2FA on: a challenge)"] = await measure(counter, sign_in)
    rows["verifySignIn (TOTP code)"] = await measure(counter, verify)
    print_table(rows)


def print_table(rows: dict[str, tuple[int, int]]) -> None:
    print("\n| operation | SQL statements | transactions (BEGIN) |")
    print("|---|---:|---:|")
    for name, (statements, transactions) in rows.items():
        print(f"| {name} | {statements} | {transactions} |")


@contextlib.asynccontextmanager
async def started_app(
    clock: FrozenClock, **settings: Any
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app on a fresh, migrated SQLite file in a temporary directory, its lifespan run,
    and an in-process client of it. `settings` adds to the development ones."""
    with tempfile.TemporaryDirectory(prefix="verrou-bench-") as tmp:
        database_url = f"sqlite://{tmp}/bench.sqlite3"
        await apply_migrations(database_url)
        values: dict[str, Any] = {
            "database_url": database_url,
            "var_dir": Path(tmp) / "var",
            "encryption_keys": Fernet.generate_key().decode(),
            "environment": "development",
            "outbox_worker": False,
            **settings,
        }
        app = create_app(Settings(_env_file=None, **values), clock=clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield app, client


async def main() -> None:
    clock = FrozenClock(T0)
    async with started_app(clock) as (_, client):
        await run(client, attach_counter(), clock)


if __name__ == "__main__":
    asyncio.run(main())
