"""Signing in with an email and a password: the throttle, argon2, then a session, or the
second step for an account with 2FA.

Two trips to the database for a device seen before (services.batches): before the hash,
the attempt recorded and counted and the account read; after it, in one transaction, the
attempt forgotten, the SIGNED_IN event and the session. A new device takes the change's
path instead, which sends its alert (services.sign_in_alerts).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from models import Account, Session
from services import (
    batches,
    changes,
    remembered_devices,
    security_events,
    sign_in_alerts,
    statements,
    throttle,
    validation,
)
from services.accounts import (
    IssuedChallenge,
    IssuedSession,
    issued,
    open_challenge,
    open_session,
    session_values,
)
from services.batches import Batch
from services.crypto import new_token
from services.errors import InvalidCredentials
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind


async def sign_in(
    rt: Runtime, meta: RequestMeta, *, email: str, password: str, device_token: str | None = None
) -> IssuedSession | IssuedChallenge:
    email = validation.looked_up_email(email)
    # Throttled by email, known or not, so the refusal itself says nothing of the account.
    # The attempt recorded and counted and the account read in one trip to the database.
    subject = throttle.password_subject(email)
    now = rt.clock.now()
    window = timedelta(seconds=rt.settings.failure_window_seconds)
    batch = functools.partial(
        _attempt_and_account, subject=subject, email=email, now=now, window=window
    )
    counted, account = await batches.run(batch)
    attempt = await throttle.admitted(rt, subject, counted, now, window)
    # An unknown email still verifies a (dummy) hash: both failures take the same time.
    valid = await rt.passwords.verify(account.password_hash if account else None, password)
    if account is None or not valid:
        # Counted for both: a metric of known accounts only would tell which exist.
        rt.metrics.count_sign_in_failure()
        if account is not None:
            await security_events.record(rt, account.id, SecurityEventKind.SIGN_IN_FAILED, meta)
        raise InvalidCredentials()
    remembered_id: int | None = None
    if account.two_factor_on:
        await attempt.succeeded()
        # A remembered device skips the second factor, never the password (checked above).
        device = await remembered_devices.recognise(rt, account, device_token)
        if device is None:
            return await open_challenge(rt, account)
        remembered_id = device.id
    else:
        issued = await _signed_in_from_known_device(rt, account, meta, attempt)
        if issued is not None:
            return issued
    async with changes.account_change(rt, account, meta) as change:
        if remembered_id is None:
            # With the session it opens: one commit for both.
            await attempt.succeeded(change.connection)
        await sign_in_alerts.signed_in(change, remembered=remembered_id is not None)
        return await open_session(
            rt, account, meta, change.connection, remembered_device_id=remembered_id
        )


def _attempt_and_account(
    dialect: str, subject: str, email: str, now: datetime, window: timedelta
) -> Batch[tuple[throttle.Counted, Account | None]]:
    counted = yield from throttle.recorded_attempt(dialect, subject, now, window)
    # Tortoise refuses to even compare a value longer than the column (and PostgreSQL's
    # varchar would too): such an email has no account.
    if len(email) > validation.EMAIL_MAX:
        return counted, None
    found = yield from statements.selected(Account, dialect, email=email)
    return counted, found[0] if found else None


async def _signed_in_from_known_device(
    rt: Runtime, account: Account, meta: RequestMeta, attempt: throttle.Attempt
) -> IssuedSession | None:
    """What the change below does for a device seen before, which sends no alert, in one
    trip and one transaction: the attempt forgotten, the SIGNED_IN event, the session.
    None, with nothing written, when the device is new."""
    token = new_token()
    values = session_values(rt, account, meta, token)
    batch = functools.partial(
        _known_device_writes, attempt=attempt, account=account, meta=meta, session=values
    )
    try:
        session = await batches.run(batch, transaction=True)
    except sign_in_alerts.NewDevice:
        return None
    rt.metrics.count_security_event(SecurityEventKind.SIGNED_IN.value)
    return issued(token, session, account)


def _known_device_writes(
    dialect: str,
    attempt: throttle.Attempt,
    account: Account,
    meta: RequestMeta,
    session: dict[str, Any],
) -> Batch[Session]:
    yield from throttle.forgotten(dialect, attempt.row_id)
    now = session["created_at"]
    yield from sign_in_alerts.known_device_signed_in(dialect, account.id, meta, now)
    return (yield from statements.created(Session, dialect, **session))
