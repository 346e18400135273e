"""signUp, signIn, verifySignIn, signOut."""

from __future__ import annotations

import strawberry
from starlette.responses import Response

from models.accounts import Locale as StoredLocale
from resolvers.context import Context
from resolvers.errors import signed_in
from resolvers.payload_errors import payload_errors
from schema.enums import SecondFactorKind
from schema.inputs import SignInInput, SignUpInput, VerifySignInInput
from schema.payloads import SignInPayload, SignOutPayload, SignUpPayload, VerifySignInPayload
from schema.types import Session, TwoFactorChallenge
from services import accounts, sign_in_challenges
from services.accounts import IssuedSession
from transport.session_cookie import (
    clear_session_cookie,
    cookie_token,
    set_session_cookie,
    wants_cookie,
)

Info = strawberry.Info[Context, None]


def _session(info: Info, issued: IssuedSession) -> Session:
    """The payload's session; with the cookie opt-in, the token goes into the HttpOnly
    cookie and the payload carries an empty one (see resolvers/session_cookie.py)."""
    context = info.context
    token = issued.token
    # Over a WebSocket there is no HTTP response to carry a cookie: the token is returned.
    if wants_cookie(context.request) and isinstance(context.response, Response):
        runtime = context.runtime
        set_session_cookie(
            context.response,
            runtime.settings,
            issued.token,
            issued.session.expires_at,
            runtime.clock.now(),
        )
        token = ""
    return Session(
        token=token,
        expires_at=issued.session.expires_at,
        account=issued.account,  # type: ignore[arg-type]
    )


@payload_errors(SignUpPayload)
async def sign_up(*, info: Info, input: SignUpInput) -> SignUpPayload:
    issued = await accounts.sign_up(
        info.context.runtime,
        info.context.meta,
        email=input.email,
        password=input.password,
        company_name=input.company_name,
        billing_contact_email=input.billing_contact_email,
        locale=StoredLocale(input.locale.value) if input.locale else StoredLocale.FR,
    )
    return SignUpPayload(session=_session(info, issued))


@payload_errors(SignInPayload)
async def sign_in(*, info: Info, input: SignInInput) -> SignInPayload:
    result = await accounts.sign_in(
        info.context.runtime, info.context.meta, email=input.email, password=input.password
    )
    if isinstance(result, IssuedSession):
        return SignInPayload(session=_session(info, result))
    return SignInPayload(
        challenge=TwoFactorChallenge(
            token=result.token,
            expires_at=result.challenge.expires_at,
            methods=[SecondFactorKind.TOTP, SecondFactorKind.BACKUP_CODE],
        )
    )


@payload_errors(VerifySignInPayload)
async def verify_sign_in(*, info: Info, input: VerifySignInInput) -> VerifySignInPayload:
    verified = await sign_in_challenges.verify(
        info.context.runtime, info.context.meta, token=input.challenge_token, code=input.code
    )
    return VerifySignInPayload(
        session=_session(info, verified.issued),
        used_backup_code=verified.used_backup_code,
        backup_codes_remaining=verified.backup_codes_remaining,
    )


@payload_errors(SignOutPayload)
async def sign_out(*, info: Info) -> SignOutPayload:
    context = info.context
    # The cookie goes whenever it is what signed this request in, or what failed to (expired
    # or revoked): a bearer sign-out leaves a cookie session of the same browser alone.
    carries_cookie = cookie_token(context.request, context.runtime.settings) is not None
    if (
        carries_cookie
        and (context.session is None or context.session_from_cookie)
        and isinstance(context.response, Response)
    ):
        clear_session_cookie(context.response, context.runtime.settings)
    _, session = signed_in(info)
    await accounts.sign_out(info.context.runtime, session, info.context.meta)
    return SignOutPayload()
