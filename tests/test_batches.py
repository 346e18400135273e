"""services/batches.py: several statements in one trip to the database, with the commit and
rollback rules Tortoise's own queries follow, on each database; and the sign-in, which makes
two such trips where it made ten."""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import aiosqlite
import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import Account, FailedAttempt, SecurityEvent, Session
from services import batches, statements
from services.batches import Batch, Statement
from services.clock import FrozenClock
from tests.helpers import Api

pytestmark = pytest.mark.usefixtures("api")  # the app's lifespan: its database is open


class Refused(Exception):
    pass


def two_attempts(dialect: str, subject: str, clock: FrozenClock, fail: bool) -> Batch[int]:
    first = yield from statements.inserted_id(
        FailedAttempt, dialect, subject=subject, created_at=clock.now()
    )
    if fail:
        raise Refused
    yield from statements.inserted_id(
        FailedAttempt, dialect, subject=subject, created_at=clock.now() + timedelta(seconds=1)
    )
    mark = statements.marks(dialect, 1)[0]
    count = f'SELECT COUNT(*) AS "n" FROM "failed_attempt" WHERE "subject" = {mark}'  # noqa: S608
    rows = yield Statement(count, [subject])
    assert rows == [{"n": 2}]
    return first


def attempts(
    subject: str, clock: FrozenClock, *, fail: bool = False
) -> functools.partial[Batch[int]]:
    return functools.partial(two_attempts, subject=subject, clock=clock, fail=fail)


async def test_a_batch_returns_its_value_and_its_rows_are_written(clock: FrozenClock) -> None:
    first = await batches.run(attempts("both", clock), transaction=True)
    stored = await FailedAttempt.filter(subject="both").order_by("id")
    assert [row.id for row in stored] == [first, first + 1]
    assert stored[1].created_at == clock.now() + timedelta(seconds=1)


async def test_a_batch_in_a_transaction_of_its_own_writes_nothing_when_it_raises(
    clock: FrozenClock,
) -> None:
    with pytest.raises(Refused):
        await batches.run(attempts("none", clock, fail=True), transaction=True)
    assert not await FailedAttempt.filter(subject="none").exists()
    # No transaction was left open: the next statement commits by itself.
    await batches.run(attempts("after", clock))
    assert await FailedAttempt.filter(subject="after").count() == 2


async def test_outside_a_transaction_each_statement_commits_by_itself(clock: FrozenClock) -> None:
    with pytest.raises(Refused):
        await batches.run(attempts("first only", clock, fail=True))
    assert await FailedAttempt.filter(subject="first only").count() == 1


async def test_a_batch_given_a_transaction_rolls_back_with_it(clock: FrozenClock) -> None:
    with pytest.raises(Refused):
        async with in_transaction() as connection:
            await batches.run(attempts("in change", clock), connection)
            raise Refused
    assert not await FailedAttempt.filter(subject="in change").exists()
    async with in_transaction() as connection:
        await batches.run(attempts("committed", clock), connection)
    assert await FailedAttempt.filter(subject="committed").count() == 2


async def test_a_transaction_of_its_own_is_refused_inside_one(clock: FrozenClock) -> None:
    async with in_transaction() as connection:
        with pytest.raises(TypeError, match="already in a transaction"):
            await batches.run(attempts("nested", clock), connection, transaction=True)
        with pytest.raises(TypeError, match="already in a transaction"):
            await batches.run(attempts("nested", clock), transaction=True)
    assert not await FailedAttempt.filter(subject="nested").exists()


def duplicate_sessions(dialect: str, session: dict[str, object]) -> Batch[None]:
    yield from statements.inserted_id(Session, dialect, **session)
    yield from statements.inserted_id(Session, dialect, **session)  # the same token hash


def session_row(account_id: int, now: datetime, token_hash: str) -> dict[str, Any]:
    """Every field of a session row, for statements.insert."""
    return {
        "token_hash": token_hash,
        "account_id": account_id,
        "created_at": now,
        "expires_at": now + timedelta(hours=1),
        "last_seen_at": now,
        "revoked_at": None,
        "ip_address": None,
        "user_agent": None,
        "remembered_device_id": None,
    }


async def test_a_driver_error_is_tortoises_and_rolls_the_transaction_back(
    api: Api, clock: FrozenClock
) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    now = clock.now()
    session = session_row(account.id, now, "e" * 64)
    batch = functools.partial(duplicate_sessions, session=session)
    with pytest.raises(IntegrityError):
        await batches.run(batch, transaction=True)
    assert not await Session.filter(token_hash="e" * 64).exists()


# Set in the test's own context once it starts counting: the tasks it starts from then on
# (a group's trip, services/batches.py) inherit it; the app's background tasks do not.
_COUNTING: contextvars.ContextVar[bool] = contextvars.ContextVar("counting", default=False)


class Trips:
    """Hand-offs to aiosqlite's thread made on the test's behalf: from its task (httpx's
    ASGI transport runs the app in the caller's task) or from a task it started, as a
    group of batches is (the app's background tasks have their own): each statement
    Tortoise sends is one, a group of batches is one."""

    def __init__(self) -> None:
        self.count = 0

    def start(self) -> None:
        self.count = 0
        _COUNTING.set(True)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trips]:
    counted = Trips()
    hand_off = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: object, *args: object) -> object:
        if _COUNTING.get():
            counted.count += 1
        return await hand_off(self, fn, *args)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    yield counted


@pytest.mark.sqlite_only(reason="counts hand-offs to aiosqlite's thread")
async def test_on_sqlite_a_batch_is_one_trip_to_the_drivers_thread(
    trips: Trips, clock: FrozenClock
) -> None:
    trips.start()
    await batches.run(attempts("one trip", clock), transaction=True)
    assert trips.count == 1


@pytest.mark.sqlite_only(reason="counts hand-offs to aiosqlite's thread")
async def test_a_sign_in_from_a_known_device_is_two_trips_to_the_database(
    api: Api, trips: Trips
) -> None:
    await api.sign_up()  # this device is now known
    trips.start()
    payload = await api.sign_in()
    assert payload["errors"] == [] and payload["session"]["token"]
    # Before the hash: the attempt recorded and counted, and the account read. After it: the
    # attempt forgotten, the earlier devices read, the event and the session written.
    assert trips.count == 2
    account = await Account.get(email="alice@example.com")
    assert await SecurityEvent.filter(account_id=account.id, kind="SIGNED_IN").count() == 2
    assert not await FailedAttempt.filter(subject="password:alice@example.com").exists()


@pytest.mark.sqlite_only(reason="on PostgreSQL Tortoise logs the statements it sends itself")
async def test_a_batchs_statements_are_logged_at_debug_without_their_values(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """As Tortoise logs each statement it sends (on SQLite the batch runs beside it, so it
    logs its own): the text, never the values (a subject may be an email)."""
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        await batches.run(attempts("logged@example.com", clock), transaction=True)
    logged = [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"]
    ours = ('INSERT INTO "failed_attempt"', 'SELECT COUNT(*) AS "n" FROM "failed_attempt"')
    sent = [text for text in logged if text.startswith(ours)]
    assert [text.split()[0] for text in sent] == ["INSERT", "INSERT", "SELECT"], logged
    assert not any("logged@example.com" in text for text in logged)


@pytest.mark.sqlite_only(reason="PostgreSQL aborts a transaction at its first failed statement")
async def test_a_failed_statement_leaves_the_transaction_it_joined_to_its_owner(
    api: Api, clock: FrozenClock
) -> None:
    """On SQLite a refused statement is undone alone: a batch that joined the caller's
    transaction (no transaction of its own) does not roll the caller's work back."""
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    now = clock.now()
    session = session_row(account.id, now, "f" * 64)
    async with in_transaction() as connection:
        await statements.insert(FailedAttempt, connection, subject="kept", created_at=now)
        await statements.insert(Session, connection, **session)
        with pytest.raises(IntegrityError):
            await statements.insert(Session, connection, **session)  # the same token hash
    assert await FailedAttempt.filter(subject="kept").count() == 1
    assert await Session.filter(token_hash="f" * 64).count() == 1
