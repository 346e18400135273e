"""Counting failed attempts in the database, so every process and every restart sees them.

An attempt is recorded *before* it is checked and removed only if it succeeds. Parallel
requests (or aliases in one request) therefore see the in-flight attempts recorded before
theirs, and no more than `max_failures` guesses can be in the window at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from models import FailedAttempt
from services.errors import RateLimited
from services.runtime import Runtime


def password_subject(email: str) -> str:
    return f"password:{email}"


def second_factor_subject(account_id: int) -> str:
    return f"second-factor:{account_id}"


@dataclass
class Attempt:
    row: FailedAttempt

    async def succeeded(self) -> None:
        await FailedAttempt.filter(id=self.row.id).delete()


async def begin_attempt(rt: Runtime, subject: str, *, limit: int | None = None) -> Attempt:
    """Record an attempt, or raise RateLimited if the window is already full (`limit`
    attempts, MAX_FAILURES unless given)."""
    now = rt.clock.now()
    window = timedelta(seconds=rt.settings.failure_window_seconds)
    row = await FailedAttempt.create(subject=subject, created_at=now)
    recent = FailedAttempt.filter(subject=subject, created_at__gt=now - window)
    # Count this attempt and those recorded before it, not later ones still in flight: of a
    # burst, the first `max_failures` go through and only the rest are refused.
    if await recent.filter(id__lte=row.id).count() > (limit or rt.settings.max_failures):
        await FailedAttempt.filter(id=row.id).delete()
        oldest = await recent.order_by("created_at").first()
        reopens = (oldest.created_at if oldest else now) + window
        rt.metrics.count_rate_limited()
        raise RateLimited(retry_after=max(1, math.ceil((reopens - now).total_seconds())))
    return Attempt(row)
