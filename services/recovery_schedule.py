"""The waiting period of an approved recovery: scheduled, cancelled, or applied by the job.

Support's approval does not turn 2FA off: it schedules it RECOVERY_WAIT_SECONDS later and
tells the owner at once, with a link to cancel. Whoever asked for the recovery may not be
the owner (a stolen password and a forged document); the real owner, who still has the
phone, cancels by the link, by signing in with the second factor, or from their account.

At `effective_at` the job applies it. Several processes run the job, each now and then and
once at start: one conditional UPDATE (`status = SCHEDULED AND effective_at <= now`) picks
the one that turns 2FA off, so it happens exactly once, even after a restart.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from models import Account, RecoveryRequest
from models.recovery import RecoveryStatus
from services import changes, emails, link_tokens, two_factor
from services.changes import Change
from services.errors import AlreadyResolved, NotFound, Unauthenticated
from services.i18n import normalize_locale
from services.link_tokens import LinkPurpose
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind

logger = logging.getLogger("verrou.recovery")

# Why a scheduled recovery was cancelled (the RECOVERY_CANCELLED email says it).
BY_OWNER = "OWNER"
BY_SIGN_IN = "SIGNED_IN"
BY_SECURED_ACCOUNT = "ACCOUNT_SECURED"


def reference(request_id: int) -> str:
    """How emails name a request (the customer may quote it to support)."""
    return f"#{request_id}"


async def schedule(
    change: Change, request_id: int, note: str | None, effective_at: datetime
) -> None:
    """Tell the owner at once, with a cancel link valid until 2FA turns off. The request is
    already SCHEDULED in the change's transaction."""
    rt, account = change.rt, change.account
    token = await link_tokens.issue(
        rt,
        account.id,
        LinkPurpose.CANCEL_RECOVERY,
        effective_at - rt.clock.now(),
        change.connection,
        subject=str(request_id),
    )
    await change.record_event(SecurityEventKind.RECOVERY_SCHEDULED)
    await change.notify(
        NotificationKind.RECOVERY_SCHEDULED,
        {
            "request_id": reference(request_id),
            "note": note or "",
            "effective_at": effective_at.isoformat(),
        },
        email_params={
            "cancel_link": f"{rt.settings.base_url}/#/cancel-recovery?token={token}",
            "effective_when": emails.format_when(effective_at, normalize_locale(account.locale)),
        },
    )


async def cancel_scheduled(
    change: Change, *, reason: str = BY_OWNER, request_id: int | None = None
) -> RecoveryRequest | None:
    """Cancel the account's SCHEDULED recovery, if it has one (or that one request), in the
    change's transaction: CANCELLED, its links spent, the owner told. None when there was
    nothing to cancel (no waiting period, or the job applied it first)."""
    connection, account_id = change.connection, change.account.id
    scheduled = RecoveryRequest.filter(account_id=account_id, status=RecoveryStatus.SCHEDULED)
    if request_id is not None:
        scheduled = scheduled.filter(id=request_id)
    found = await scheduled.using_db(connection).first()
    if found is None:
        return None
    # The same condition as the job's: of a cancellation and the job, one wins.
    cancelled = (
        await RecoveryRequest.filter(id=found.id, status=RecoveryStatus.SCHEDULED)
        .using_db(connection)
        .update(status=RecoveryStatus.CANCELLED, open_for=None)
    )
    if cancelled != 1:
        return None
    await link_tokens.revoke(account_id, LinkPurpose.CANCEL_RECOVERY, connection)
    await change.record_event(SecurityEventKind.RECOVERY_CANCELLED)
    await change.notify(
        NotificationKind.RECOVERY_CANCELLED,
        {"request_id": reference(found.id), "reason": reason},
    )
    return await RecoveryRequest.filter(id=found.id).using_db(connection).get()


async def cancel(
    rt: Runtime, meta: RequestMeta, viewer: Account | None, token: str | None
) -> RecoveryRequest:
    """`cancelTwoFactorRecovery`: by the emailed link (no session needed), or signed in as
    the owner."""
    if token is not None:
        # Spent first, on its own: a link that reaches a request no longer waiting is of no
        # further use anyway (its request was cancelled or applied, and the link expires
        # when the request takes effect).
        link = await link_tokens.spend(rt, token, LinkPurpose.CANCEL_RECOVERY)
        account = await Account.get(id=link.account_id)
        request_id: int | None = int(link.subject) if link.subject else None
    elif viewer is not None:
        account, request_id = viewer, None
    else:
        raise Unauthenticated()
    async with changes.account_change(rt, account, meta) as change:
        cancelled = await cancel_scheduled(change, reason=BY_OWNER, request_id=request_id)
    if cancelled is not None:
        return cancelled
    if token is not None:
        raise AlreadyResolved(field="token")
    raise NotFound()


async def apply_due(rt: Runtime) -> int:
    """Turn 2FA off for every recovery whose waiting period has ended; how many this call
    applied (another process may apply some of them first)."""
    now = rt.clock.now()
    due = await RecoveryRequest.filter(
        status=RecoveryStatus.SCHEDULED, effective_at__lte=now
    ).values("id")
    applied = 0
    for row in due:
        if await _apply(rt, int(row["id"]), now):
            applied += 1
    return applied


async def _apply(rt: Runtime, request_id: int, now: datetime) -> bool:
    request = await RecoveryRequest.get(id=request_id).select_related("account")
    # No request behind it: the job's security event carries no IP address or browser
    # (support's would be mistaken for the customer's).
    async with changes.account_change(rt, request.account, RequestMeta()) as change:
        # The decision: on PostgreSQL a second process's UPDATE waits for this row and then
        # finds it no longer SCHEDULED.
        taken = (
            await RecoveryRequest.filter(
                id=request_id, status=RecoveryStatus.SCHEDULED, effective_at__lte=now
            )
            .using_db(change.connection)
            .update(status=RecoveryStatus.APPROVED, open_for=None)
        )
        if taken != 1:
            return False
        await turn_off_for_recovery(change, request_id, request.resolution_note)
    logger.info("recovery request %s took effect", request_id)
    return True


async def turn_off_for_recovery(change: Change, request_id: int, note: str | None) -> None:
    """The person lost the device: 2FA off, and every session of the account ends (whoever
    else holds one must sign in again, with the password only)."""
    await two_factor.turn_off(change)
    await change.end_sessions()
    await change.record_event(SecurityEventKind.RECOVERY_APPROVED)
    await change.notify(
        NotificationKind.RECOVERY_APPROVED,
        {"request_id": reference(request_id), "note": note or ""},
    )


def waiting_period(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.recovery_wait_seconds)
