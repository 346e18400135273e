"""Accounts, the sessions and second steps they open, and bearer sessions (the sign-in
with a password is services/password_sign_in.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from models import Account, Session, SignInChallenge
from models.accounts import Locale, Role
from services import (
    account_settings,
    key_challenges,
    security_events,
    session_events,
    statements,
    throttle,
    validation,
)
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
    values = session_values(rt, account, meta, token, remembered_device_id)
    return issued(token, await statements.create(Session, connection, **values), account)


def session_values(
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


def issued(token: str, session: Session, account: Account) -> IssuedSession:
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


async def account_by_email(email: str) -> Account | None:
    """Account.get_or_none(email=email), its statement written once (services.statements)."""
    found = await statements.select(Account, None, email=email)
    return found[0] if found else None


async def open_challenge(rt: Runtime, account: Account) -> IssuedChallenge:
    """The second step, as signIn opens it (a password reset opens the same one)."""
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
