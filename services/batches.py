"""Several statements in one trip to the database: a batch is a generator that yields its
statements one at a time and is sent each one's result.

On SQLite, Tortoise hands every statement to aiosqlite's thread and waits for the answer on
the event loop: each statement is a thread switch there and back, a wake-up of the loop, and
Tortoise's and aiosqlite's Python around it. A sign-in did ten such trips, and together
they cost it as much CPU as the whole HTTP and GraphQL stack (bench/README.md, "signIn at
argon2's pace"). A batch runs as one function on aiosqlite's thread instead: its statements,
and the Python between them, go in one trip. On PostgreSQL (asyncpg talks to the server
from the event loop, with no thread in between), the same batch runs statement by statement
through Tortoise's connection.

    def counted(dialect: str, subject: str) -> Batch[int]:
        rows = yield Statement(count_sql(dialect), [subject])
        return rows[0]["n"]

    n = await batches.run(functools.partial(counted, subject=subject))

A batch must not touch the event loop (on SQLite it runs on another thread): it builds
statements, reads their results and decides; metrics, notifications and the rest happen
after `run` returns.

On SQLite, the batches that wait for the connection together share one trip and one commit
(a group commit): each commit waits for the disk (`PRAGMA synchronous` is FULL: a commit is
on disk before anyone is told of it), and that sync cost about 250 µs of CPU a commit, for
one row or ten. The batches sent while the connection is busy, or in the same turn of the
event loop (the sign-ins whose hashes were answered together), run one after the other in
one transaction, each in a savepoint of its own: a batch with `transaction=True` that raises
is rolled back to its savepoint alone, one without keeps the statements it had run, as each
would have had alone. None of them is answered before the one COMMIT is on disk; if that
COMMIT fails, all of them fail, and nothing of theirs is written. A batch alone runs as
before.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

T = TypeVar("T")


@dataclass(frozen=True)
class Statement:
    """One statement and its values. `returns_id`: an INSERT whose result is the new row's
    id (SQLite's last row id; on PostgreSQL the statement ends with RETURNING "id"); any
    other statement's result is its rows, as dicts."""

    sql: str
    values: list[Any]
    returns_id: bool = False


# A batch yields Statements, is sent each one's result (rows, or an id), returns its value.
Batch = Generator[Statement, Any, T]


async def run(
    batch: Callable[[str], Batch[T]],
    connection: BaseDBAsyncClient | None = None,
    *,
    transaction: bool = False,
) -> T:
    """Run `batch(dialect)` in one trip, in `connection` when given, else on the default
    connection (which is the task's open transaction if there is one, as for Tortoise's own
    queries). Outside a transaction each statement commits by itself, unless
    `transaction=True`: then all of them commit together, or none if the batch raises.
    Nothing else runs on the connection meanwhile. Driver errors come out as Tortoise's
    IntegrityError and OperationalError, as from Tortoise's own queries."""
    db = connection if connection is not None else connections.get("default")
    if transaction and isinstance(db, TransactionalDBClient):
        raise TypeError("already in a transaction: the batch runs in it without transaction=True")
    dialect = db.capabilities.dialect
    if dialect == "sqlite":
        # Tortoise's own lock for the connection (a transaction holds it throughout, so a
        # statement of another request never lands inside it), then one hand-off to
        # aiosqlite's thread. aiosqlite has no public call for "run this function there":
        # `_execute` is what each of its own methods uses (pinned in the lock file, and
        # tests/test_batches.py fails if it changes).
        # Tortoise logs each statement it sends at DEBUG (tests count them); so does this,
        # from the event loop once the trip is back, when someone listens.
        sent: list[str] | None = [] if db.log.isEnabledFor(logging.DEBUG) else None
        try:
            if not isinstance(db, TransactionalDBClient):
                grouped: T = await _grouped(db, batch(dialect), transaction, sent)
                return grouped
            # In a Tortoise transaction, which holds the connection: in it, on its own.
            async with db.acquire_connection() as driver:
                run_there = functools.partial(_run_in_sqlite, sent=sent)
                value: T = await driver._execute(
                    run_there, driver._conn, batch(dialect), transaction
                )
                return value
        finally:
            for sql in sent or ():
                db.log.debug("%s", sql)
    if transaction:
        async with in_transaction() as open_transaction:
            return await _run_through(open_transaction, batch(dialect))
    return await _run_through(db, batch(dialect))


async def _run_through(db: BaseDBAsyncClient, batch: Batch[T]) -> T:
    result: Any = None
    try:
        while True:
            statement = batch.send(result)
            rows = await db.execute_query_dict(statement.sql, statement.values)
            result = int(rows[0]["id"]) if statement.returns_id else rows
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


@dataclass(eq=False)
class _Waiting:
    """A batch waiting for its group's trip, and where its answer goes."""

    batch: Batch[Any]
    transaction: bool
    sent: list[str] | None
    answer: asyncio.Future[Any]


# The batches waiting for each SQLite client's next group, in the order they came.
_waiting: weakref.WeakKeyDictionary[BaseDBAsyncClient, list[_Waiting]] = weakref.WeakKeyDictionary()
# The groups' tasks, held until done (the event loop keeps only weak references to tasks).
_flushes: set[asyncio.Task[None]] = set()


async def _grouped(
    db: BaseDBAsyncClient, batch: Batch[T], transaction: bool, sent: list[str] | None
) -> T:
    """The batch's value once its group is committed. The first batch of a group starts the
    task that runs it; the ones that come before that task has the connection join it."""
    waiting = _waiting.setdefault(db, [])
    entry = _Waiting(batch, transaction, sent, asyncio.get_running_loop().create_future())
    waiting.append(entry)
    if len(waiting) == 1:
        flush = asyncio.create_task(_flush(db))
        _flushes.add(flush)
        flush.add_done_callback(_flushes.discard)
    value: T = await entry.answer
    return value


async def _flush(db: BaseDBAsyncClient) -> None:
    """Once the connection is free (Tortoise's lock), the batches waiting then, in one trip
    and one commit. A batch whose caller was cancelled before its group began never runs,
    as it would not have alone."""
    group: list[_Waiting] | None = None
    try:
        async with db.acquire_connection() as driver:
            group = _waiting.pop(db, [])
            for entry in group:
                if entry.answer.cancelled():
                    entry.batch.close()
            group = [entry for entry in group if not entry.answer.cancelled()]
            if not group:
                return
            outcomes = await driver._execute(_run_group, driver._conn, group)
    except BaseException as error:
        for entry in group if group is not None else _waiting.pop(db, []):
            if entry.answer.done():
                continue
            if isinstance(error, asyncio.CancelledError):
                entry.answer.cancel()
            else:
                entry.answer.set_exception(error)
        if not isinstance(error, Exception):
            raise
        return
    for entry, (value, failure) in zip(group, outcomes, strict=True):
        if entry.answer.done():  # its caller gave up meanwhile; what it wrote is written
            continue
        if failure is None:
            entry.answer.set_result(value)
        else:
            entry.answer.set_exception(failure)


def _run_group(
    connection: sqlite3.Connection, group: list[_Waiting]
) -> list[tuple[Any, Exception | None]]:
    """On aiosqlite's thread: each batch's value or error, once the group is committed."""
    if len(group) == 1:
        (only,) = group
        try:
            return [(_run_in_sqlite(connection, only.batch, only.transaction, only.sent), None)]
        except Exception as error:  # the caller gets it, as from `run`
            return [(None, error)]
    outcomes: list[tuple[Any, Exception | None]] = []
    try:
        connection.execute("BEGIN")
        for position, entry in enumerate(group):
            savepoint = f'"batch_{position}"'
            connection.execute(f"SAVEPOINT {savepoint}")
            try:
                value = _drive(connection, entry.batch, entry.sent)
            except Exception as error:  # this batch's caller gets it
                if entry.transaction:
                    connection.execute(f"ROLLBACK TO {savepoint}")
                connection.execute(f"RELEASE {savepoint}")
                outcomes.append((None, _translated(error)))
            else:
                connection.execute(f"RELEASE {savepoint}")
                outcomes.append((value, None))
        connection.execute("COMMIT")
    except BaseException as error:  # nothing of the group is written: all fail
        # As `_run_in_sqlite`: never leave a transaction open to the next statement.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if not isinstance(error, Exception):
            raise
        failure = _translated(error)
        return [(None, failure) for _ in group]
    return outcomes


def _translated(error: Exception) -> Exception:
    """The driver's error as Tortoise's, as Tortoise's own queries raise it."""
    translated: Exception
    if isinstance(error, sqlite3.IntegrityError):
        translated = IntegrityError(error)
    elif isinstance(error, sqlite3.OperationalError):
        translated = OperationalError(error)
    else:
        return error
    translated.__cause__ = error
    return translated


def _run_in_sqlite(
    connection: sqlite3.Connection, batch: Batch[T], transaction: bool, sent: list[str] | None
) -> T:
    """On aiosqlite's thread. The connection is in autocommit mode (Tortoise opens it with
    isolation_level=None): each statement commits by itself unless BEGIN opened one."""
    try:
        if transaction:
            connection.execute("BEGIN")
        try:
            value = _drive(connection, batch, sent)
            if transaction:
                connection.execute("COMMIT")
        except BaseException:
            # A failed COMMIT can leave the transaction open: never leave it to the next
            # statement on the connection.
            if transaction and connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return value
    except sqlite3.IntegrityError as error:
        raise IntegrityError(error) from error
    except sqlite3.OperationalError as error:
        raise OperationalError(error) from error


def _drive(connection: sqlite3.Connection, batch: Batch[T], sent: list[str] | None) -> T:
    result: Any = None
    try:
        while True:
            statement = batch.send(result)
            if sent is not None:
                sent.append(statement.sql)
            cursor = connection.execute(statement.sql, statement.values)
            if statement.returns_id:
                result = cursor.lastrowid
            else:
                result = [dict(row) for row in cursor.fetchall()]
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
