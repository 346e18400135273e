"""Tortoise's SQLite client with a second, read-only connection to the same file, read on the
event loop's own thread for the lookup that signs every request in (services/session_lookup.py).

Tortoise runs every SQLite statement on aiosqlite's thread: the statement goes on a queue,
the thread wakes, runs it, and hands the rows back through the loop's self-pipe. For the
session lookup, an indexed read of one row that SQLite answers in about 20 µs of CPU, that
trip cost about 90 µs more (two thread wake-ups and a pipe write and read; bench/README.md,
"Reads on the event loop's thread"). Read on the loop's thread, the statement costs
only its own time; 20 µs of a blocked loop is less than the trip's own share of it.

What the reader sees is what SQLite's write-ahead log shows a new reader: the last committed
state (each statement is its own read transaction, ended once its rows are all read). A
request's session is committed before the answer that gave its token, and a sign-out
commits before it answers, so nothing a client can observe changes; what it no longer sees
is another request's transaction still open on Tortoise's connection, which it should not
have seen.

The reader never waits: it opens with no busy timeout, and any error of SQLite's (busy, a
locked schema, a file not in WAL mode) makes `read_now` answer None, and the caller sends
the statement through Tortoise as before. An in-memory database has no file a second
connection could share: no reader. Used as Tortoise's engine for sqlite:// URLs
(services/database.py). `read` runs a batch of reads (services/batches.py) there.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.sqlite.client import SqliteClient

from services import batches
from services.batches import Batch

T = TypeVar("T")

logger = logging.getLogger("verrou.database")


class ReaderSqliteClient(SqliteClient):
    """SqliteClient, plus `read_now`: a read on the calling thread's own connection."""

    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        self._reader: sqlite3.Connection | None = None
        # The thread that opened the reader: sqlite3 refuses a connection's use elsewhere.
        self._reader_thread: int | None = None

    async def create_connection(self, with_db: bool) -> None:
        await super().create_connection(with_db)
        if self._reader is None and self.filename != ":memory:":
            self._reader = _open_reader(self.filename)
            self._reader_thread = threading.get_ident()

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        await super().close()

    def read_now(self, query: str, values: list[Any]) -> list[dict[str, Any]] | None:
        """The rows of a read-only statement, as `execute_query_dict` gives them, read on this
        thread without waiting; None when it cannot be (no reader, another thread, or any
        error of SQLite's): then send it through `execute_query_dict`."""
        reader = self._reader
        if reader is None or self._reader_thread != threading.get_ident():
            return None
        # Tortoise logs each statement it sends at DEBUG; so does this (not its values).
        self.log.debug("%s", query)
        try:
            cursor = reader.execute(query, values)
            try:
                rows = cursor.fetchall()
            finally:
                cursor.close()
        except sqlite3.Error as error:
            # Busy, locked, or anything else SQLite says: the statement goes the usual way,
            # which waits, retries and reports as it always has.
            logger.debug("read on the loop's thread refused (%s): sent through Tortoise", error)
            return None
        return [dict(row) for row in rows]


def _open_reader(filename: str) -> sqlite3.Connection | None:
    """A read-only connection that never waits for a lock; None when the file is not in WAL
    mode (a reader there would take the shared lock that writers wait for)."""
    try:
        reader = sqlite3.connect(filename, timeout=0, isolation_level=None)
    except sqlite3.Error as error:
        logger.debug("no reader on the loop's thread (%s)", error)
        return None
    try:
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA query_only=ON")
        (mode,) = reader.execute("PRAGMA journal_mode").fetchone()
    except sqlite3.Error as error:
        logger.debug("no reader on the loop's thread (%s)", error)
        mode = None
    if str(mode).lower() != "wal":
        reader.close()
        return None
    return reader


client_class = ReaderSqliteClient


async def read(batch: Callable[[str], Batch[T]]) -> T:
    """`batches.run` for a batch of reads only, on the default connection: on SQLite,
    outside a transaction, read on the event loop's own thread when it can be (no trip to
    aiosqlite's thread), else as `batches.run` reads it. In a transaction, it reads in the
    transaction (its own uncommitted writes), as `batches.run` does."""
    db = connections.get("default")
    if isinstance(db, ReaderSqliteClient):
        read_now = _read_now(db, batch(db.capabilities.dialect))
        if read_now is not _REFUSED:
            return read_now
    return await batches.run(batch)  # on the default connection, as read above


# `_read_now` could not read a statement there: the batch runs again through `batches.run`.
_REFUSED: Any = object()


def _read_now(db: ReaderSqliteClient, batch: Batch[T]) -> T:
    result: Any = None
    try:
        while True:
            statement = batch.send(result)
            if statement.returns_id:
                batch.close()
                return _REFUSED  # type: ignore[no-any-return]
            result = db.read_now(statement.sql, statement.values)
            if result is None:
                # Reads have no effect: the whole batch runs anew the usual way.
                batch.close()
                return _REFUSED  # type: ignore[no-any-return]
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
