"""services/batches.py on SQLite: the batches that wait for the connection together share one
trip to aiosqlite's thread and one commit, each in a savepoint of its own, with the outcome
each would have had alone; a commit that fails fails them all."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import Account, FailedAttempt, Session
from services import batches, statements
from services.batches import Batch, Statement
from services.clock import FrozenClock
from tests.helpers import Api
from tests.test_batches import Refused, attempts, duplicate_sessions, session_row

pytestmark = [
    pytest.mark.sqlite_only(reason="groups are SQLite's: asyncpg has no thread to hand off to"),
    pytest.mark.usefixtures("api"),
]


@pytest.fixture
async def traced() -> AsyncIterator[list[str]]:
    """Every statement Tortoise's SQLite connection runs from now on, BEGIN and COMMIT
    included (the app's own jobs' too)."""
    driver = connections.get("default")._connection
    seen: list[str] = []
    await driver._execute(driver._conn.set_trace_callback, seen.append)
    yield seen
    await driver._execute(driver._conn.set_trace_callback, None)


def group_of(traced: list[str]) -> list[str]:
    """The statements of the one group in the trace, BEGIN to COMMIT (a group runs as one
    function on aiosqlite's thread: nothing else comes between)."""
    first = traced.index('SAVEPOINT "batch_0"')
    assert traced[first - 1] == "BEGIN"
    end = traced.index("COMMIT", first)
    return traced[first - 1 : end + 1]


async def subjects(*names: str) -> dict[str, int]:
    return {name: await FailedAttempt.filter(subject=name).count() for name in names}


async def test_batches_sent_together_share_one_trip_and_one_commit(
    clock: FrozenClock, traced: list[str]
) -> None:
    ids = await asyncio.gather(
        *(batches.run(attempts(name, clock), transaction=True) for name in "abc")
    )
    group = group_of(traced)
    assert [text for text in group if text.startswith(("SAVEPOINT", "RELEASE"))] == [
        'SAVEPOINT "batch_0"',
        'RELEASE "batch_0"',
        'SAVEPOINT "batch_1"',
        'RELEASE "batch_1"',
        'SAVEPOINT "batch_2"',
        'RELEASE "batch_2"',
    ]
    assert sum(text.startswith('INSERT INTO "failed_attempt"') for text in group) == 6
    assert group.count("COMMIT") == 1
    assert await subjects("a", "b", "c") == {"a": 2, "b": 2, "c": 2}
    first: dict[str, int] = {}
    for row in await FailedAttempt.all().order_by("id"):
        first.setdefault(row.subject, row.id)
    assert ids == [first["a"], first["b"], first["c"]]  # each batch's own value


async def test_a_batch_alone_runs_as_before_with_no_savepoint(
    clock: FrozenClock, traced: list[str]
) -> None:
    await batches.run(attempts("alone", clock), transaction=True)
    first = next(i for i, text in enumerate(traced) if "'alone'" in text)
    assert [text.split()[0] for text in traced[first - 1 : first + 4]] == [
        "BEGIN",
        "INSERT",
        "INSERT",
        "SELECT",
        "COMMIT",
    ]


async def test_in_a_group_a_batch_that_raises_in_its_own_transaction_is_undone_alone(
    clock: FrozenClock, traced: list[str]
) -> None:
    outcomes = await asyncio.gather(
        batches.run(attempts("before", clock), transaction=True),
        batches.run(attempts("refused", clock, fail=True), transaction=True),
        batches.run(attempts("after", clock), transaction=True),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], Refused)
    assert all(isinstance(outcome, int) for outcome in (outcomes[0], outcomes[2]))
    assert 'ROLLBACK TO "batch_1"' in group_of(traced)
    assert await subjects("before", "refused", "after") == {"before": 2, "refused": 0, "after": 2}


async def test_in_a_group_a_batch_without_a_transaction_keeps_what_it_ran(
    clock: FrozenClock,
) -> None:
    outcomes = await asyncio.gather(
        batches.run(attempts("whole", clock), transaction=True),
        batches.run(attempts("first only", clock, fail=True)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], Refused)
    assert await subjects("whole", "first only") == {"whole": 2, "first only": 1}


async def test_in_a_group_a_driver_error_is_tortoises_and_undone_alone(
    api: Api, clock: FrozenClock
) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    session = session_row(account.id, clock.now(), "d" * 64)
    outcomes = await asyncio.gather(
        batches.run(attempts("beside", clock), transaction=True),
        batches.run(functools.partial(duplicate_sessions, session=session), transaction=True),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], IntegrityError)
    assert isinstance(outcomes[0], int)
    assert not await Session.filter(token_hash="d" * 64).exists()
    assert await subjects("beside") == {"beside": 2}


def orphan_session(dialect: str, now: datetime) -> Batch[int]:
    """A session of no account, its foreign key checked only at COMMIT: the COMMIT fails."""
    yield Statement("PRAGMA defer_foreign_keys = ON", [])
    row_id = yield from statements.inserted_id(
        Session, dialect, **session_row(999_999, now, "0" * 64)
    )
    return row_id


async def test_a_failed_commit_fails_every_batch_of_the_group_and_writes_nothing(
    clock: FrozenClock, traced: list[str]
) -> None:
    outcomes = await asyncio.gather(
        batches.run(attempts("lost", clock), transaction=True),
        batches.run(functools.partial(orphan_session, now=clock.now()), transaction=True),
        return_exceptions=True,
    )
    assert [type(outcome) for outcome in outcomes] == [IntegrityError, IntegrityError]
    assert "FOREIGN KEY" in str(outcomes[0])
    commit = traced.index("COMMIT", traced.index('SAVEPOINT "batch_0"'))
    assert traced[commit + 1] == "ROLLBACK"  # the failed COMMIT left the transaction open
    assert await subjects("lost") == {"lost": 0}
    assert not await Session.filter(token_hash="0" * 64).exists()
    # The connection is left with no transaction open: the next batch commits by itself.
    await batches.run(attempts("next", clock))
    assert await subjects("next") == {"next": 2}


async def test_a_batch_whose_caller_left_before_its_group_began_never_runs(
    clock: FrozenClock,
) -> None:
    go = asyncio.Event()

    async def sent_when_told(name: str) -> Any:
        await go.wait()
        return await batches.run(attempts(name, clock), transaction=True)

    # Made before the transaction: their connection is the client, not the transaction.
    leaving = asyncio.create_task(sent_when_told("left"))
    staying = asyncio.create_task(sent_when_told("stayed"))
    async with in_transaction():  # holds the connection: the group waits for it
        go.set()
        for _ in range(5):
            await asyncio.sleep(0)  # both batches are now waiting in one group
        leaving.cancel()
    assert isinstance(await staying, int)
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert await subjects("left", "stayed") == {"left": 0, "stayed": 2}
