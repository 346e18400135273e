"""Accounts, sign-in and bearer sessions."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from models import Account, Session, SignInChallenge
from models.accounts import Locale, Role
from services import (
    account_settings,
    batches,
    changes,
    key_challenges,
    remembered_devices,
    security_events,
    session_events,
    sign_in_alerts,
    statements,
    throttle,
    validation,
)
from services.batches import Batch
from services.crypto import new_token, token_digest
from services.errors import EmailTaken, InvalidCredentials, InvalidInput
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind
from services.session_lookup import live_session


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session: Session
    account: Account


@dataclass(frozen=True)
class IssuedChallenge:
    token: str
    challenge: SignInChallenge
    # SecondFactorKind names, and the WebAuthn request options when SECURITY_KEY is one.
    methods: list[str]
    security_key_options: dict[str, Any] | None = None


async def create_account(
    rt: Runtime,
    *,
    email: str,
    password: str,
    company_name: str | None = None,
    billing_contact_email: str | None = None,
    locale: Locale = Locale.FR,
    role: Role = Role.CUSTOMER,
) -> Account:
    email = validation.email(email, "email")
    validation.new_password(password, "password")
    billing = validation.email(billing_contact_email or email, "billing_contact_email")
    company = validation.optional_text(company_name, "company_name", validation.COMPANY_MAX)
    if await Account.exists(email=email):
        raise EmailTaken(field="email")
    password_hash = await rt.passwords.hash(password)
    try:
        return await Account.create(
            email=email,
            password_hash=password_hash,
            company_name=company,
            billing_contact_email=billing,
            # The account email needs no proof; any other address confirms by its link.
            billing_contact_verified=billing == email,
            locale=locale,
            role=role,
            created_at=rt.clock.now(),
        )
    except IntegrityError:
        # Two sign-ups with one email at once: the unique index decides.
        raise EmailTaken(field="email") from None


async def open_session(
    rt: Runtime,
    account: Account,
    meta: RequestMeta,
    connection: BaseDBAsyncClient | None = None,
    *,
    remembered_device_id: int | None = None,
) -> IssuedSession:
    token = new_token()
    values = _session_values(rt, account, meta, token, remembered_device_id)
    return _issued(token, await statements.create(Session, connection, **values), account)


def _session_values(
    rt: Runtime,
    account: Account,
    meta: RequestMeta,
    token: str,
    remembered_device_id: int | None = None,
) -> dict[str, Any]:
    now = rt.clock.now()
    return {
        "token_hash": token_digest(token),
        "account_id": account.id,
        "created_at": now,
        "expires_at": now + timedelta(seconds=rt.settings.session_absolute_seconds),
        "last_seen_at": now,
        "revoked_at": None,
        "ip_address": meta.ip_address,
        "user_agent": meta.stored_user_agent,
        "remembered_device_id": remembered_device_id,
    }


def _issued(token: str, session: Session, account: Account) -> IssuedSession:
    object.__setattr__(session, "_account", account)  # as Session.create(account=...) does
    return IssuedSession(token=token, session=session, account=account)


async def sign_up(
    rt: Runtime,
    meta: RequestMeta,
    *,
    email: str,
    password: str,
    company_name: str | None,
    billing_contact_email: str | None,
    locale: Locale,
) -> IssuedSession:
    # A sign-up counts whether it opens an account or finds the email taken: each can send a
    # verification email to the billing contact it names, or tell whether an email has an
    # account (SIGN_UP_MAX_PER_ADDRESS per SIGN_UP_WINDOW_SECONDS). Input refused as
    # malformed does neither, and costs nothing.
    attempt = await throttle.begin_attempt(
        rt,
        throttle.sign_up_subject(meta.ip_address),
        limit=rt.settings.sign_up_max_per_address,
        window_seconds=rt.settings.sign_up_window_seconds,
    )
    try:
        account = await create_account(
            rt,
            email=email,
            password=password,
            company_name=company_name,
            billing_contact_email=billing_contact_email,
            locale=locale,
        )
    except InvalidInput:
        await attempt.succeeded()  # not an attempt that counts: the row goes
        raise
    issued = await open_session(rt, account, meta)
    await security_events.record(rt, account.id, SecurityEventKind.SIGNED_IN, meta)
    await account_settings.after_sign_up(rt, account, meta)
    return issued


async def check_password(
    rt: Runtime, account: Account, password: str, *, field: str = "password"
) -> None:
    """Re-ask the password of a signed-in account (before any 2FA change); throttled."""
    attempt = await throttle.begin_attempt(rt, throttle.password_subject(account.email))
    if not await rt.passwords.verify(account.password_hash, password):
        raise InvalidCredentials(field=field)
    await attempt.succeeded()


async def sign_in(
    rt: Runtime, meta: RequestMeta, *, email: str, password: str, device_token: str | None = None
) -> IssuedSession | IssuedChallenge:
    # Whatever was sent, the throttle's subject and the lookup stay small and storable: cut
    # one character past the longest email (so it stays unknown), control characters
    # replaced (no stored email has one, and PostgreSQL refuses a NUL in text).
    email = validation.printable(validation.normalize_email(email)[: validation.EMAIL_MAX + 1])
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
            return await _open_challenge(rt, account)
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
    values = _session_values(rt, account, meta, token)
    batch = functools.partial(
        _known_device_writes, attempt=attempt, account=account, meta=meta, session=values
    )
    try:
        session = await batches.run(batch, transaction=True)
    except sign_in_alerts.NewDevice:
        return None
    rt.metrics.count_security_event(SecurityEventKind.SIGNED_IN.value)
    return _issued(token, session, account)


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


async def account_by_email(email: str) -> Account | None:
    """Account.get_or_none(email=email), its statement written once (services.statements)."""
    found = await statements.select(Account, None, email=email)
    return found[0] if found else None


async def open_challenge(rt: Runtime, account: Account) -> IssuedChallenge:
    """The second step, as signIn opens it (a password reset opens the same one)."""
    return await _open_challenge(rt, account)


async def _open_challenge(rt: Runtime, account: Account) -> IssuedChallenge:
    step = await key_challenges.second_step(rt, account.id)
    now = rt.clock.now()
    token = new_token()
    challenge = await SignInChallenge.create(
        token_hash=token_digest(token),
        account=account,
        created_at=now,
        expires_at=now + timedelta(seconds=rt.settings.challenge_ttl_seconds),
        webauthn_challenge_hash=step.challenge_digest,
    )
    return IssuedChallenge(token, challenge, step.methods, step.options)


# How stale last_seen_at may get: a busy client costs one write a minute, not one a request.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


async def authenticate(rt: Runtime, token: str) -> Session | None:
    """The live session of a bearer token (with its account loaded), or None."""
    now = rt.clock.now()
    # Not revoked, within its absolute lifetime and used within the idle lifetime; with the
    # account's 2FA status in the same statement (services.session_lookup).
    idle_since = now - timedelta(seconds=rt.settings.session_idle_seconds)
    session = await live_session(token_digest(token), now, idle_since=idle_since)
    if session is not None:
        await touch(rt, session)
    return session


async def touch(rt: Runtime, session: Session) -> None:
    """Record a use of the session, which keeps it from going idle; at most once a minute,
    so last_seen_at lags real use by up to LAST_SEEN_RESOLUTION. Conditional on the stored
    value: of a burst of requests that all read the old value, one row is written."""
    now = rt.clock.now()
    if now - session.last_seen_at < LAST_SEEN_RESOLUTION:
        return
    await Session.filter(id=session.id, last_seen_at__lte=now - LAST_SEEN_RESOLUTION).update(
        last_seen_at=now
    )
    session.last_seen_at = now


async def sign_out(rt: Runtime, session: Session, meta: RequestMeta) -> None:
    await Session.filter(id=session.id).update(revoked_at=rt.clock.now())
    await security_events.record(rt, session.account_id, SecurityEventKind.SIGNED_OUT, meta)
    await session_events.announce_ended(rt, session.account_id, [session.id])
