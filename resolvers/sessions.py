"""signUp, signIn, verifySignIn, signOut."""

from __future__ import annotations

import strawberry

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

Info = strawberry.Info[Context, None]


def _session(issued: IssuedSession) -> Session:
    return Session(
        token=issued.token,
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
    return SignUpPayload(session=_session(issued))


@payload_errors(SignInPayload)
async def sign_in(*, info: Info, input: SignInInput) -> SignInPayload:
    result = await accounts.sign_in(
        info.context.runtime, info.context.meta, email=input.email, password=input.password
    )
    if isinstance(result, IssuedSession):
        return SignInPayload(session=_session(result))
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
        session=_session(verified.issued),
        used_backup_code=verified.used_backup_code,
        backup_codes_remaining=verified.backup_codes_remaining,
    )


@payload_errors(SignOutPayload)
async def sign_out(*, info: Info) -> SignOutPayload:
    _, session = signed_in(info)
    await accounts.sign_out(info.context.runtime, session, info.context.meta)
    return SignOutPayload()
