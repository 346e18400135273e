"""startTwoFactor, cancelTwoFactorSetup, confirmTwoFactor, regenerateBackupCodes,
disableTwoFactor."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import two_factor
from resolvers.context import Info
from schema.inputs import (
    ConfirmTwoFactorInput,
    DisableTwoFactorInput,
    RegenerateBackupCodesInput,
    StartTwoFactorInput,
)
from schema.payload_errors import payload_errors
from schema.payloads import (
    CancelTwoFactorSetupPayload,
    ConfirmTwoFactorPayload,
    DisableTwoFactorPayload,
    RegenerateBackupCodesPayload,
    StartTwoFactorPayload,
)
from schema.types import TwoFactorSetup

_ASKED_AGAIN = "The account's password, asked again."


@payload_errors(StartTwoFactorPayload)
async def start(
    info: Info,
    input: Annotated[StartTwoFactorInput, strawberry.argument(description=_ASKED_AGAIN)],
) -> StartTwoFactorPayload:
    setup = await two_factor.start(info, password=input.password)
    return StartTwoFactorPayload(
        setup=TwoFactorSetup(
            secret=setup.secret,
            otpauth_uri=setup.otpauth_uri,
            qr_code_svg=setup.qr_svg,
            qr_code_data_uri=setup.qr_png_data_uri,
            issuer=setup.issuer,
            account_name=setup.account_name,
            expires_at=setup.expires_at,
        )
    )


@payload_errors(CancelTwoFactorSetupPayload)
async def cancel(info: Info) -> CancelTwoFactorSetupPayload:
    cancelled = await two_factor.cancel(info)
    return CancelTwoFactorSetupPayload(status=cancelled.status, account=cancelled.account)


@payload_errors(ConfirmTwoFactorPayload)
async def confirm(
    info: Info,
    input: Annotated[
        ConfirmTwoFactorInput,
        strawberry.argument(description="The first code the authenticator app shows."),
    ],
) -> ConfirmTwoFactorPayload:
    confirmed = await two_factor.confirm(info, code=input.code)
    return ConfirmTwoFactorPayload(
        status=confirmed.status, backup_codes=confirmed.backup_codes, account=confirmed.account
    )


@payload_errors(RegenerateBackupCodesPayload)
async def regenerate_backup_codes(
    info: Info,
    input: Annotated[RegenerateBackupCodesInput, strawberry.argument(description=_ASKED_AGAIN)],
) -> RegenerateBackupCodesPayload:
    new = await two_factor.regenerate_backup_codes(info, password=input.password)
    return RegenerateBackupCodesPayload(
        status=new.status, backup_codes=new.backup_codes, account=new.account
    )


@payload_errors(DisableTwoFactorPayload)
async def disable(
    info: Info,
    input: Annotated[
        DisableTwoFactorInput,
        strawberry.argument(description="The account's password and the second confirmation."),
    ],
) -> DisableTwoFactorPayload:
    disabled = await two_factor.disable(info, password=input.password, confirm=input.confirm)
    return DisableTwoFactorPayload(status=disabled.status, account=disabled.account)
