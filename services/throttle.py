"""Counting failed attempts in the database, so every process and every restart sees them.

An attempt is recorded *before* it is checked and removed only if it succeeds. Parallel
requests (or aliases in one request) therefore see the in-flight attempts recorded before
theirs, and no more than `max_failures` guesses can be in the window at once.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from models import FailedAttempt
from services import batches, statements
from services.batches import Batch, Statement
from services.errors import RateLimited
from services.runtime import Runtime


def password_subject(email: str) -> str:
    return f"password:{email}"


def second_factor_subject(account_id: int) -> str:
    return f"second-factor:{account_id}"


def sign_up_subject(ip_address: str | None) -> str:
    # Requests whose address is unknown share one subject: they cannot dodge the limit.
    return f"sign-up:{ip_address or '?'}"


def mail_kind_subject(kind: str, recipient: str) -> str:
    """Emails of one kind to one address, whichever account they are about."""
    return f"mail:{kind}:{recipient.casefold()}"


def mail_account_subject(account_id: int) -> str:
    return f"mail-account:{account_id}"


@dataclass
class Attempt:
    row_id: int

    async def succeeded(self, connection: BaseDBAsyncClient | None = None) -> None:
        """The attempt no longer counts. In `connection`'s transaction when given: the row
        goes with the rest of that change, or stays (a failure) if it rolls back."""
        await _forget(self.row_id, connection)


async def _forget(row_id: int, connection: BaseDBAsyncClient | None = None) -> None:
    await batches.run(functools.partial(forgotten, row_id=row_id), connection)


def forgotten(dialect: str, row_id: int) -> Batch[None]:
    """The attempt no longer counts, within a batch."""
    yield Statement(_delete(dialect), [row_id])


# Written once per dialect (services.statements): every sign-in runs both.
@functools.cache
def _count(dialect: str) -> str:
    subject, since, row_id = statements.marks(dialect, 3)
    # Only placeholders go into the text.
    return (
        'SELECT COUNT(*) AS "n" FROM "failed_attempt" '  # noqa: S608
        f'WHERE "subject" = {subject} AND "created_at" > {since} AND "id" <= {row_id}'
    )


@functools.cache
def _delete(dialect: str) -> str:
    return f'DELETE FROM "failed_attempt" WHERE "id" = {statements.marks(dialect, 1)[0]}'  # noqa: S608


def recorded_attempt(
    dialect: str, subject: str, now: datetime, window: timedelta
) -> Batch[Counted]:
    """Record an attempt and count it with those of `subject` recorded before it in the
    window, within a batch (services.batches). Later ones still in flight are not counted:
    of a burst, the first `max_failures` go through and only the rest are refused."""
    row_id = yield from statements.inserted_id(
        FailedAttempt, dialect, subject=subject, created_at=now
    )
    since = FailedAttempt._meta.fields_map["created_at"].to_db_value(now - window, FailedAttempt)
    rows = yield Statement(_count(dialect), [subject, since, row_id])
    return Counted(row_id, rows[0]["n"])


@dataclass(frozen=True)
class Counted:
    row_id: int
    # This attempt and those before it in the window.
    attempts: int


async def begin_attempt(
    rt: Runtime, subject: str, *, limit: int | None = None, window_seconds: int | None = None
) -> Attempt:
    """Record an attempt, or raise RateLimited if the window is already full (`limit`
    attempts, MAX_FAILURES unless given, in `window_seconds`, FAILURE_WINDOW_SECONDS unless
    given)."""
    now = rt.clock.now()
    window = timedelta(seconds=window_seconds or rt.settings.failure_window_seconds)
    counted = await batches.run(
        functools.partial(recorded_attempt, subject=subject, now=now, window=window)
    )
    return await admitted(rt, subject, counted, now, window, limit)


async def admitted(
    rt: Runtime,
    subject: str,
    counted: Counted,
    now: datetime,
    window: timedelta,
    limit: int | None = None,
) -> Attempt:
    """The attempt `recorded_attempt` counted, or RateLimited (the attempt forgotten) when
    it is over `limit` (MAX_FAILURES unless given)."""
    if counted.attempts > (limit or rt.settings.max_failures):
        await _forget(counted.row_id)  # refused, so not counted
        recent = FailedAttempt.filter(subject=subject, created_at__gt=now - window)
        oldest = await recent.order_by("created_at").first()
        reopens = (oldest.created_at if oldest else now) + window
        rt.metrics.count_rate_limited()
        raise RateLimited(retry_after=max(1, math.ceil((reopens - now).total_seconds())))
    return Attempt(counted.row_id)


async def take_quota(
    rt: Runtime,
    subject: str,
    limit: int,
    window_seconds: int,
    connection: BaseDBAsyncClient | None = None,
) -> bool:
    """Count one use of `subject` and say whether it is within `limit` uses per window; a use
    over the limit is not counted. In the caller's transaction, so a change that rolls back
    uses none of the quota. The same insert-then-count as begin_attempt."""
    now = rt.clock.now()
    since = now - timedelta(seconds=window_seconds)
    row = await FailedAttempt.create(using_db=connection, subject=subject, created_at=now)
    used = (
        await FailedAttempt.filter(subject=subject, created_at__gt=since, id__lte=row.id)
        .using_db(connection)
        .count()
    )
    if used > limit:
        await FailedAttempt.filter(id=row.id).using_db(connection).delete()
        return False
    return True
