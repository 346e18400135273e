"""services/sqlite_client.py: on SQLite, the session lookup and `statements.select` read on
the event loop's own thread through a second, read-only connection, with no trip to
aiosqlite's thread; whenever it cannot (no reader, another thread, busy, a write), the
statement goes through Tortoise as before. It sees committed state only."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Generator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from models import Account, FailedAttempt, Session
from services import session_lookup, sqlite_client, statements
from services.batches import Batch, Statement
from services.crypto import token_digest
from services.database import tortoise_config
from services.runtime import Runtime
from services.sqlite_client import ReaderSqliteClient
from tests.helpers import Api

pytestmark = [pytest.mark.sqlite_only, pytest.mark.usefixtures("api")]

EMAIL = "alice@example.com"


def what_went(args: tuple[Any, ...]) -> str:
    """A trip's statement, or the names of the batches it runs (services/batches.py: a group
    of batches is a list of them)."""
    for arg in args:
        if isinstance(arg, str):
            return arg
        if isinstance(arg, Generator):
            return arg.__name__
        if isinstance(arg, list):
            return ", ".join(waiting.batch.__name__ for waiting in arg)
    return repr(args)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What is handed to aiosqlite's thread from now on: each statement, or each batch's
    name. (The app's own jobs make trips too: each test looks for its own statements.)"""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any) -> Any:
        sent.append(what_went(args))
        return await original(self, fn, *args)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield sent


def lookup_statement() -> str:
    # Not at import: the statement's columns are the models' once Tortoise is initialised.
    return session_lookup._statement("sqlite")


def client() -> ReaderSqliteClient:
    db = connections.get("default")
    assert isinstance(db, ReaderSqliteClient)
    return db


async def lookup(rt: Runtime, token: str) -> Session | None:
    now = rt.clock.now()
    return await session_lookup.live_session(
        token_digest(token), now, idle_since=now - timedelta(hours=1)
    )


async def test_the_session_lookup_reads_on_the_loops_thread_with_no_trip(
    api: Api, rt: Runtime, trips: list[str]
) -> None:
    token = await api.sign_up(EMAIL)
    trips.clear()
    session = await lookup(rt, token)
    assert session is not None
    assert session.account.email == EMAIL
    assert trips == []


async def test_without_a_reader_the_lookup_goes_through_tortoise_with_the_same_answer(
    api: Api, rt: Runtime, trips: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await api.sign_up(EMAIL)
    await api.enable_two_factor(token)
    read = await lookup(rt, token)
    monkeypatch.setattr(client(), "_reader", None)
    trips.clear()
    sent = await lookup(rt, token)
    assert trips.count(lookup_statement()) == 1
    assert read is not None and sent is not None
    for one, other in ((read, sent), (read.account, sent.account)):
        assert dict(one) == dict(other)
    assert read.account.two_factor is not None and sent.account.two_factor is not None
    assert dict(read.account.two_factor) == dict(sent.account.two_factor)
    assert getattr(read, session_lookup.UNUSED_CODES) == 10
    assert getattr(sent, session_lookup.UNUSED_CODES) == 10


async def test_statements_select_reads_on_the_loops_thread(api: Api, trips: list[str]) -> None:
    await api.sign_up(EMAIL)
    trips.clear()
    (account,) = await statements.select(Account, None, email=EMAIL)
    assert account.email == EMAIL
    assert trips == []
    # Given a connection, it runs there, through aiosqlite's thread.
    (again,) = await statements.select(Account, connections.get("default"), email=EMAIL)
    assert again.id == account.id
    assert trips.count("selected") == 1


async def test_in_a_transaction_a_read_sees_its_own_uncommitted_writes(api: Api) -> None:
    await api.sign_up(EMAIL)
    async with in_transaction():
        await Account.filter(email=EMAIL).update(company_name="Inside")
        (account,) = await statements.select(Account, None, email=EMAIL)
        assert account.company_name == "Inside"


async def test_another_requests_open_transaction_is_not_seen_until_it_commits(
    api: Api, rt: Runtime
) -> None:
    token = await api.sign_up(EMAIL)
    revoked, looked_up = asyncio.Event(), asyncio.Event()
    seen: list[Session | None] = []

    async def other_request() -> None:
        # Made before the transaction: the task's default connection is not the transaction.
        await revoked.wait()
        seen.append(await lookup(rt, token))
        looked_up.set()

    reader = asyncio.create_task(other_request())
    async with in_transaction():
        await Session.filter(token_hash=token_digest(token)).update(revoked_at=rt.clock.now())
        revoked.set()
        # The other request reads while this one is still open (and does not wait for it).
        await asyncio.wait_for(looked_up.wait(), timeout=30)
    await reader
    assert seen[0] is not None  # the committed state: still live
    assert await lookup(rt, token) is None  # once committed, revoked


async def test_from_another_thread_it_is_not_read_there(api: Api) -> None:
    await api.sign_up(EMAIL)
    db = client()
    assert db.read_now('SELECT COUNT(*) AS "n" FROM "account"', []) == [{"n": 1}]
    assert await asyncio.to_thread(db.read_now, 'SELECT 1 AS "one"', []) is None


async def test_a_write_is_refused_by_the_reader_and_changes_nothing(api: Api) -> None:
    await api.sign_up(EMAIL)
    db = client()
    assert db.read_now('UPDATE "account" SET "company_name" = ?', ["Changed"]) is None
    assert (await Account.get(email=EMAIL)).company_name is None


def counted_then_inserted(dialect: str, calls: list[str], rt: Runtime) -> Batch[int]:
    calls.append(dialect)
    rows = yield Statement('SELECT COUNT(*) AS "n" FROM "failed_attempt"', [])
    row_id = yield from statements.inserted_id(
        FailedAttempt, dialect, subject=f"after {rows[0]['n']}", created_at=rt.clock.now()
    )
    return row_id


async def test_a_batch_the_reader_cannot_finish_runs_anew_through_tortoise(
    api: Api, rt: Runtime, trips: list[str]
) -> None:
    calls: list[str] = []
    trips.clear()
    row_id = await sqlite_client.read(lambda dialect: counted_then_inserted(dialect, calls, rt))
    assert calls == ["sqlite", "sqlite"]  # begun on the reader, then run anew
    assert trips.count("counted_then_inserted") == 1
    assert [(r.id, r.subject) for r in await FailedAttempt.all()] == [(row_id, "after 0")]


async def test_the_reader_never_waits_for_a_lock_and_is_read_only(api: Api) -> None:
    reader = client()._reader
    assert reader is not None
    assert tuple(reader.execute("PRAGMA busy_timeout").fetchone()) == (0,)
    assert tuple(reader.execute("PRAGMA query_only").fetchone()) == (1,)


class BusyReader:
    """A reader whose every statement meets a lock, as SQLite answers one it may not wait for."""

    def execute(self, *_: object) -> sqlite3.Cursor:
        raise sqlite3.OperationalError("database is locked")


async def test_a_busy_reader_sends_the_read_through_tortoise(
    api: Api, rt: Runtime, trips: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await api.sign_up(EMAIL)
    monkeypatch.setattr(client(), "_reader", BusyReader())
    trips.clear()
    session = await lookup(rt, token)
    assert session is not None
    assert session.account.email == EMAIL
    assert trips.count(lookup_statement()) == 1
    (account,) = await statements.select(Account, None, email=EMAIL)
    assert account.id == session.account.id
    assert trips.count("selected") == 1


async def test_closing_the_client_closes_its_reader(tmp_path: Path) -> None:
    db = ReaderSqliteClient(str(tmp_path / "closed.sqlite3"), connection_name="closed")
    await db.create_connection(with_db=True)
    reader = db._reader
    assert reader is not None
    assert db.read_now('SELECT 1 AS "one"', []) == [{"one": 1}]
    await db.close()
    with pytest.raises(sqlite3.ProgrammingError):
        reader.execute("SELECT 1")
    assert db.read_now('SELECT 1 AS "one"', []) is None


@pytest.mark.parametrize("journal_mode", ["DELETE", "TRUNCATE"])
async def test_without_a_write_ahead_log_there_is_no_reader(
    tmp_path: Path, journal_mode: str
) -> None:
    db = ReaderSqliteClient(
        str(tmp_path / "rollback.sqlite3"), connection_name="rollback", journal_mode=journal_mode
    )
    await db.create_connection(with_db=True)
    try:
        assert db._reader is None
        assert db.read_now('SELECT 1 AS "one"', []) is None
        assert await db.execute_query_dict('SELECT 1 AS "one"') == [{"one": 1}]
    finally:
        await db.close()


async def test_an_in_memory_database_has_no_reader() -> None:
    db = ReaderSqliteClient(":memory:", connection_name="memory")
    await db.create_connection(with_db=True)
    try:
        assert db._reader is None
        assert db.read_now('SELECT 1 AS "one"', []) is None
    finally:
        await db.close()


async def test_each_read_is_logged_at_debug_without_its_values(
    api: Api, rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    token = await api.sign_up(EMAIL)
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        await lookup(rt, token)
    logged = [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"]
    assert logged == [lookup_statement()]
    assert token_digest(token) not in caplog.text


def test_sqlite_urls_use_the_reader_client_and_others_do_not() -> None:
    sqlite = tortoise_config("sqlite:///tmp/verrou.sqlite3")["connections"]["default"]
    assert sqlite["engine"] == "services.sqlite_client"
    postgres = "postgres://postgres@127.0.0.1:5432/verrou"
    assert tortoise_config(postgres)["connections"]["default"] == postgres
