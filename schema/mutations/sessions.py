"""signUp, signIn, verifySignIn, signOut."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from resolvers import sessions
from resolvers.context import Info
from schema.enums import SecondFactorKind
from schema.inputs import SignInInput, SignUpInput, VerifySignInInput
from schema.payload_errors import payload_errors
from schema.payloads import SignInPayload, SignOutPayload, SignUpPayload, VerifySignInPayload
from schema.types import TwoFactorChallenge
from services import records


@payload_errors(SignUpPayload)
async def sign_up(
    info: Info,
    input: Annotated[
        SignUpInput,
        strawberry.argument(description="Email, password and profile of the new account."),
    ],
) -> SignUpPayload:
    opened = await sessions.sign_up(
        info,
        email=input.email,
        password=input.password,
        company_name=input.company_name,
        billing_contact_email=input.billing_contact_email,
        locale=records.Locale[input.locale.name] if input.locale else None,
    )
    return SignUpPayload(session=opened)


@payload_errors(SignInPayload)
async def sign_in(
    info: Info,
    input: Annotated[
        SignInInput, strawberry.argument(description="The account's email and password.")
    ],
) -> SignInPayload:
    result = await sessions.sign_in(
        info, email=input.email, password=input.password, device_token=input.device_token
    )
    if isinstance(result, sessions.OpenedSession):
        return SignInPayload(session=result)
    return SignInPayload(
        challenge=TwoFactorChallenge(
            token=result.token,
            expires_at=result.challenge.expires_at,
            methods=[SecondFactorKind[method] for method in result.methods],
            security_key_options=JSON(result.security_key_options)
            if result.security_key_options is not None
            else None,
        )
    )


@payload_errors(VerifySignInPayload)
async def verify_sign_in(
    info: Info,
    input: Annotated[
        VerifySignInInput,
        strawberry.argument(description="The challenge token of signIn and the code typed."),
    ],
) -> VerifySignInPayload:
    verified = await sessions.verify_sign_in(
        info,
        challenge_token=input.challenge_token,
        code=input.code,
        remember_device=bool(input.remember_device),
    )
    return verify_payload(verified)


def verify_payload(verified: sessions.VerifiedSignIn) -> VerifySignInPayload:
    """The payload of a passed second step, whichever factor passed it."""
    return VerifySignInPayload(
        session=verified.session,
        used_backup_code=verified.used_backup_code,
        backup_codes_remaining=verified.backup_codes_remaining,
        device_token=verified.device_token,
    )


@payload_errors(SignOutPayload)
async def sign_out(info: Info) -> SignOutPayload:
    await sessions.sign_out(info)
    return SignOutPayload()
