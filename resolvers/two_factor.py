"""twoFactorStatus and the 2FA mutations."""

from __future__ import annotations

import strawberry

from resolvers.context import Context
from resolvers.errors import signed_in, top_level_error
from resolvers.fields import two_factor_status
from resolvers.payload_errors import payload_errors
from schema.inputs import (
    ConfirmTwoFactorInput,
    DisableTwoFactorInput,
    RegenerateBackupCodesInput,
    StartTwoFactorInput,
)
from schema.payloads import (
    CancelTwoFactorSetupPayload,
    ConfirmTwoFactorPayload,
    DisableTwoFactorPayload,
    RegenerateBackupCodesPayload,
    StartTwoFactorPayload,
)
from schema.types import TwoFactorSetup, TwoFactorStatus
from services import backup_codes, two_factor
from services import status as status_service
from services.errors import Unauthenticated

Info = strawberry.Info[Context, None]


async def _status(info: Info, account_id: int) -> TwoFactorStatus:
    # The service's dataclass has the GraphQL type's fields.
    return await status_service.get_status(info.context.runtime, account_id)  # type: ignore[return-value]


async def status(info: Info) -> TwoFactorStatus:
    if info.context.session is None:
        raise top_level_error(Unauthenticated(), info.context.locale)
    return await two_factor_status(info, info.context.session.account_id)  # type: ignore[return-value]


@payload_errors(StartTwoFactorPayload)
async def start(*, info: Info, input: StartTwoFactorInput) -> StartTwoFactorPayload:
    account, _ = signed_in(info)
    setup = await two_factor.start(info.context.runtime, account, input.password, info.context.meta)
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
async def cancel(*, info: Info) -> CancelTwoFactorSetupPayload:
    account, _ = signed_in(info)
    await two_factor.cancel(account)
    return CancelTwoFactorSetupPayload(status=await _status(info, account.id))


@payload_errors(ConfirmTwoFactorPayload)
async def confirm(*, info: Info, input: ConfirmTwoFactorInput) -> ConfirmTwoFactorPayload:
    account, _ = signed_in(info)
    codes = await two_factor.confirm(info.context.runtime, account, input.code, info.context.meta)
    return ConfirmTwoFactorPayload(status=await _status(info, account.id), backup_codes=codes)


@payload_errors(RegenerateBackupCodesPayload)
async def regenerate_backup_codes(
    *, info: Info, input: RegenerateBackupCodesInput
) -> RegenerateBackupCodesPayload:
    account, _ = signed_in(info)
    codes = await backup_codes.regenerate(
        info.context.runtime, account, input.password, info.context.meta
    )
    return RegenerateBackupCodesPayload(status=await _status(info, account.id), backup_codes=codes)


@payload_errors(DisableTwoFactorPayload)
async def disable(*, info: Info, input: DisableTwoFactorInput) -> DisableTwoFactorPayload:
    account, _ = signed_in(info)
    await two_factor.disable(
        info.context.runtime, account, input.password, input.confirm, info.context.meta
    )
    return DisableTwoFactorPayload(status=await _status(info, account.id))
