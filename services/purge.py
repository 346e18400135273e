"""The table purge: rows nothing reads any more are deleted, so no table grows without bound.

Every row below is written by traffic anyone can send (a failed sign-in with a random email
writes one) and read only within a window; past it the row only takes space. Each is kept a
day past the last moment anything could read it, a margin over every throttle and lookup
window that reads it (`windows` and docs/security.md list them):

table               deleted once                                  read (at most) while
------------------  --------------------------------------------  -------------------------
failed_attempt      older than max(1 day, every window below)     in a throttle's window
                    (FAILURE_WINDOW_SECONDS, SIGN_UP_WINDOW_SECONDS,
                    MAIL_LIMIT_WINDOW_SECONDS)
sign_in_challenge   expired a day ago (used or not)               unexpired
webauthn_challenge  expired a day ago (used or not)               unexpired
link_token          expired a day ago (used or not)               unexpired
session             expired, revoked, or idle past                live (not revoked, within
                    SESSION_IDLE_SECONDS, a day ago               both lifetimes)
remembered_device   expired a day ago                             unexpired
outbox_email        sent OUTBOX_RETENTION_DAYS ago; given up on   unsent (the mail worker)
                    max(30, OUTBOX_RETENTION_DAYS) days ago

The account's own history (security events, notifications) and recovery requests are not
purged here: they are what the account and support read, for as long as the account lives.

Rows go in batches of BATCH ids (a SELECT of ids, then a DELETE of those ids), never in one
statement over the whole table, so no pass holds a long lock. Every serving process runs the
purge: a row two processes pick at once is deleted by one, and the other deletes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.expressions import Q
from tortoise.models import Model

from models import (
    FailedAttempt,
    LinkToken,
    OutboxEmail,
    RememberedDevice,
    Session,
    SignInChallenge,
    WebAuthnChallenge,
)
from services.runtime import Runtime

BATCH = 500
# Past the last moment a row can be read, before it goes.
MARGIN = timedelta(days=1)
FAILED_ATTEMPTS_AT_LEAST = timedelta(days=1)
FAILED_EMAILS_AT_LEAST = timedelta(days=30)


@dataclass(frozen=True)
class Window:
    """The rows of `model` that `stale` selects are read by nothing any more."""

    table: str
    model: type[Model]
    stale: Q


def windows(rt: Runtime) -> list[Window]:
    """What is stale now, table by table."""
    settings = rt.settings
    now = rt.clock.now()
    gone = now - MARGIN
    # Every window that counts failed_attempt rows: the throttles, signUp's, the mail limits.
    failure_window = timedelta(
        seconds=max(
            settings.failure_window_seconds,
            settings.sign_up_window_seconds,
            settings.mail_limit_window_seconds,
        )
    )
    idle = timedelta(seconds=settings.session_idle_seconds)
    sent_kept = timedelta(days=settings.outbox_retention_days)
    return [
        Window(
            "failed_attempt",
            FailedAttempt,
            Q(created_at__lt=now - max(FAILED_ATTEMPTS_AT_LEAST, failure_window)),
        ),
        Window("sign_in_challenge", SignInChallenge, Q(expires_at__lt=gone)),
        Window("webauthn_challenge", WebAuthnChallenge, Q(expires_at__lt=gone)),
        Window("link_token", LinkToken, Q(expires_at__lt=gone)),
        Window(
            "session",
            Session,
            Q(expires_at__lt=gone) | Q(revoked_at__lt=gone) | Q(last_seen_at__lt=gone - idle),
        ),
        Window("remembered_device", RememberedDevice, Q(expires_at__lt=gone)),
        Window(
            "outbox_email",
            OutboxEmail,
            Q(sent_at__lt=now - sent_kept)
            | Q(failed_at__lt=now - max(FAILED_EMAILS_AT_LEAST, sent_kept)),
        ),
    ]


async def delete_in_batches(model: type[Model], stale: Q, batch: int = BATCH) -> int:
    """Delete the rows `stale` selects, `batch` at a time; how many this call deleted."""
    deleted = 0
    while True:
        ids = await model.filter(stale).order_by("id").limit(batch).values_list("id", flat=True)
        if not ids:
            return deleted
        # The rule again in the DELETE: it never removes a row that no longer matches it.
        deleted += await model.filter(stale, id__in=ids).delete()
        if len(ids) < batch:
            return deleted


async def purge_tables(rt: Runtime, batch: int = BATCH) -> dict[str, int]:
    """One pass over every table: how many rows each lost."""
    return {
        window.table: await delete_in_batches(window.model, window.stale, batch)
        for window in windows(rt)
    }


async def purge(rt: Runtime) -> int:
    """One pass; the number of rows deleted in all (what the periodic job logs)."""
    return sum((await purge_tables(rt)).values())
