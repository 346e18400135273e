"""changePassword, requestPasswordReset, resetPassword, secureAccount."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from resolvers import passwords
from resolvers.context import Info
from resolvers.sessions import OpenedSession
from schema.enums import SecondFactorKind
from schema.inputs import (
    ChangePasswordInput,
    RequestPasswordResetInput,
    ResetPasswordInput,
    SecureAccountInput,
)
from schema.payload_errors import payload_errors
from schema.payloads import (
    ChangePasswordPayload,
    RequestPasswordResetPayload,
    ResetPasswordPayload,
    SecureAccountPayload,
)
from schema.types import TwoFactorChallenge


@payload_errors(ChangePasswordPayload)
async def change_password(
    info: Info,
    input: Annotated[
        ChangePasswordInput,
        strawberry.argument(description="The current password, the new one, and other sessions."),
    ],
) -> ChangePasswordPayload:
    account = await passwords.change_password(
        info,
        current_password=input.current_password,
        new_password=input.new_password,
        sign_out_other_sessions=input.sign_out_other_sessions is not False,
    )
    return ChangePasswordPayload(account=account)


@payload_errors(RequestPasswordResetPayload)
async def request_password_reset(
    info: Info,
    input: Annotated[
        RequestPasswordResetInput, strawberry.argument(description="The account's email.")
    ],
) -> RequestPasswordResetPayload:
    await passwords.request_password_reset(info, email=input.email)
    return RequestPasswordResetPayload()


@payload_errors(ResetPasswordPayload)
async def reset_password(
    info: Info,
    input: Annotated[
        ResetPasswordInput,
        strawberry.argument(description="The reset link's token and the new password."),
    ],
) -> ResetPasswordPayload:
    result = await passwords.reset_password(
        info, token=input.token, new_password=input.new_password
    )
    if isinstance(result, OpenedSession):
        return ResetPasswordPayload(session=result)
    return ResetPasswordPayload(
        challenge=TwoFactorChallenge(
            token=result.token,
            expires_at=result.challenge.expires_at,
            methods=[SecondFactorKind[method] for method in result.methods],
            security_key_options=JSON(result.security_key_options)
            if result.security_key_options is not None
            else None,
        )
    )


@payload_errors(SecureAccountPayload)
async def secure_account(
    info: Info,
    input: Annotated[
        SecureAccountInput,
        strawberry.argument(description="The token of the 'this wasn't me' link."),
    ],
) -> SecureAccountPayload:
    await passwords.secure(info, token=input.token)
    return SecureAccountPayload()
