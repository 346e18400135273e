"""Accounts, sign-in and bearer sessions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from models import Account, Session, SignInChallenge, TwoFactor
from models.accounts import Locale, Role
from models.two_factor import TwoFactorState
from services import security_events, throttle
from services.crypto import new_token, token_digest
from services.errors import EmailTaken, InvalidCredentials, InvalidInput
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind
from services.session_lookup import live_session

PASSWORD_MIN = 12
PASSWORD_MAX = 256
EMAIL_MAX = 254
COMPANY_MAX = 200
# Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is the mailbox's job.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session: Session
    account: Account


@dataclass(frozen=True)
class IssuedChallenge:
    token: str
    challenge: SignInChallenge


def normalize_email(email: str) -> str:
    return email.strip().casefold()


def _valid_email(email: str, field: list[str]) -> str:
    email = normalize_email(email)
    if len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        raise InvalidInput("INVALID_EMAIL", field=field)
    return email


def _check_password_rules(password: str, field: list[str]) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(
            "PASSWORD_LENGTH", field=field, params={"min": PASSWORD_MIN, "max": PASSWORD_MAX}
        )


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
    email = _valid_email(email, ["input", "email"])
    _check_password_rules(password, ["input", "password"])
    billing = _valid_email(billing_contact_email or email, ["input", "billingContactEmail"])
    company = (company_name or "").strip() or None
    if company and len(company) > COMPANY_MAX:
        raise InvalidInput(
            "TEXT_TOO_LONG", field=["input", "companyName"], params={"max": COMPANY_MAX}
        )
    if await Account.exists(email=email):
        raise EmailTaken(field=["input", "email"])
    password_hash = await rt.passwords.hash(password)
    try:
        return await Account.create(
            email=email,
            password_hash=password_hash,
            company_name=company,
            billing_contact_email=billing,
            locale=locale,
            role=role,
            created_at=rt.clock.now(),
        )
    except IntegrityError:
        # Two sign-ups with one email at once: the unique index decides.
        raise EmailTaken(field=["input", "email"]) from None


async def open_session(
    rt: Runtime,
    account: Account,
    meta: RequestMeta,
    connection: BaseDBAsyncClient | None = None,
) -> IssuedSession:
    now = rt.clock.now()
    token = new_token()
    session = await Session.create(
        using_db=connection,
        token_hash=token_digest(token),
        account=account,
        created_at=now,
        expires_at=now + timedelta(seconds=rt.settings.session_ttl_seconds),
        last_seen_at=now,
        ip_address=meta.ip_address,
        user_agent=(meta.user_agent or "")[:512] or None,
    )
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
    account = await create_account(
        rt,
        email=email,
        password=password,
        company_name=company_name,
        billing_contact_email=billing_contact_email,
        locale=locale,
    )
    issued = await open_session(rt, account, meta)
    await security_events.record(rt, account.id, SecurityEventKind.SIGNED_IN, meta)
    return issued


async def check_password(rt: Runtime, account: Account, password: str, meta: RequestMeta) -> None:
    """Re-ask the password of a signed-in account (before any 2FA change); throttled."""
    attempt = await throttle.begin_attempt(rt, throttle.password_subject(account.email))
    if not await rt.passwords.verify(account.password_hash, password):
        raise InvalidCredentials(field=["input", "password"])
    await attempt.succeeded()


async def sign_in(
    rt: Runtime, meta: RequestMeta, *, email: str, password: str
) -> IssuedSession | IssuedChallenge:
    email = normalize_email(email)
    # Throttled by email, known or not, so the refusal itself says nothing of the account.
    attempt = await throttle.begin_attempt(rt, throttle.password_subject(email))
    account = await Account.get_or_none(email=email)
    # An unknown email still verifies a (dummy) hash: both failures take the same time.
    valid = await rt.passwords.verify(account.password_hash if account else None, password)
    if account is None or not valid:
        if account is not None:
            await security_events.record(rt, account.id, SecurityEventKind.SIGN_IN_FAILED, meta)
        raise InvalidCredentials()
    await attempt.succeeded()
    if await TwoFactor.exists(account_id=account.id, state=TwoFactorState.ACTIVE):
        return await _open_challenge(rt, account)
    issued = await open_session(rt, account, meta)
    await security_events.record(rt, account.id, SecurityEventKind.SIGNED_IN, meta)
    return issued


async def _open_challenge(rt: Runtime, account: Account) -> IssuedChallenge:
    now = rt.clock.now()
    token = new_token()
    challenge = await SignInChallenge.create(
        token_hash=token_digest(token),
        account=account,
        created_at=now,
        expires_at=now + timedelta(seconds=rt.settings.challenge_ttl_seconds),
    )
    return IssuedChallenge(token=token, challenge=challenge)


async def authenticate(rt: Runtime, token: str) -> Session | None:
    """The live session of a bearer token (with its account loaded), or None."""
    now = rt.clock.now()
    # With the account's 2FA status in the same statement (services.status).
    session = await live_session(token_digest(token), now)
    if session is not None and now - session.last_seen_at > timedelta(minutes=1):
        # Coarse, so a busy client does not write on every request.
        await Session.filter(id=session.id).update(last_seen_at=now)
    return session


async def sign_out(rt: Runtime, session: Session, meta: RequestMeta) -> None:
    await Session.filter(id=session.id).update(revoked_at=rt.clock.now())
    await security_events.record(rt, session.account_id, SecurityEventKind.SIGNED_OUT, meta)
