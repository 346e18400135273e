"""signUp, signIn, verifySignIn, signOut."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from resolvers.context import Info
from resolvers.errors import signed_in
from services import accounts, password_sign_in, sign_in_challenges
from services.accounts import IssuedChallenge, IssuedSession
from services.records import Account, Locale


@dataclass(frozen=True)
class OpenedSession:
    """A session as the payload shows it: with the cookie opt-in, the token went into the
    HttpOnly cookie and `token` is empty (see transport/session_cookie.py)."""

    token: str
    expires_at: datetime
    account: Account


@dataclass(frozen=True)
class VerifiedSignIn:
    session: OpenedSession
    used_backup_code: bool
    backup_codes_remaining: int
    device_token: str | None


def _opened(info: Info, issued: IssuedSession) -> OpenedSession:
    expires_at = issued.session.expires_at
    in_cookie = info.context.session_cookie.issue(issued.token, expires_at)
    return OpenedSession("" if in_cookie else issued.token, expires_at, issued.account)


async def sign_up(
    info: Info,
    *,
    email: str,
    password: str,
    company_name: str | None,
    billing_contact_email: str | None,
    locale: Locale | None,
) -> OpenedSession:
    issued = await accounts.sign_up(
        info.context.runtime,
        info.context.meta,
        email=email,
        password=password,
        company_name=company_name,
        billing_contact_email=billing_contact_email,
        locale=locale or Locale.FR,
    )
    return _opened(info, issued)


async def sign_in(
    info: Info, *, email: str, password: str, device_token: str | None = None
) -> OpenedSession | IssuedChallenge:
    """A session when the account has no 2FA (or this device is remembered), else the
    challenge of the second step."""
    result = await password_sign_in.sign_in(
        info.context.runtime,
        info.context.meta,
        email=email,
        password=password,
        device_token=device_token,
    )
    return _opened(info, result) if isinstance(result, IssuedSession) else result


async def verify_sign_in(
    info: Info, *, challenge_token: str, code: str, remember_device: bool = False
) -> VerifiedSignIn:
    verified = await sign_in_challenges.verify(
        info.context.runtime,
        info.context.meta,
        token=challenge_token,
        code=code,
        remember_device=remember_device,
    )
    return shown_sign_in(info, verified)


def shown_sign_in(info: Info, verified: sign_in_challenges.VerifiedSignIn) -> VerifiedSignIn:
    """A second step passed (a code or a key), as verifySignIn's payload shows it."""
    return VerifiedSignIn(
        session=_opened(info, verified.issued),
        used_backup_code=verified.used_backup_code,
        backup_codes_remaining=verified.backup_codes_remaining,
        device_token=verified.device_token,
    )


async def sign_out(info: Info) -> None:
    context = info.context
    # The cookie goes whenever it is what signed this request in, or what failed to (expired
    # or revoked): a bearer sign-out leaves a cookie session of the same browser alone.
    if context.session is None or context.session_from_cookie:
        context.session_cookie.clear()
    _, session = signed_in(info)
    await accounts.sign_out(context.runtime, session, context.meta)


def opened(info: Info, issued: IssuedSession) -> OpenedSession:
    """A session opened by another flow (a password reset), shown as sign-in shows it."""
    return _opened(info, issued)
