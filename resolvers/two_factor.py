"""twoFactorStatus and the 2FA mutations."""

from __future__ import annotations

from dataclasses import dataclass

from resolvers.context import Info
from resolvers.errors import signed_in, top_level_error
from resolvers.fields import two_factor_status
from services import backup_codes, two_factor
from services import status as status_service
from services.errors import Unauthenticated
from services.status import TwoFactorStatus
from services.two_factor import TwoFactorSetup


@dataclass(frozen=True)
class NewBackupCodes:
    """The status after 2FA was turned on or its codes replaced, and the codes, shown once
    (None: a TOTP app added while security keys had 2FA on already)."""

    status: TwoFactorStatus
    backup_codes: list[str] | None


async def _status(info: Info, account_id: int) -> TwoFactorStatus:
    return await status_service.get_status(info.context.runtime, account_id)


async def status(info: Info) -> TwoFactorStatus:
    if info.context.session is None:
        raise top_level_error(Unauthenticated(), info.context.locale)
    return await two_factor_status(info, info.context.session.account_id)


async def start(info: Info, *, password: str) -> TwoFactorSetup:
    account, _ = signed_in(info)
    return await two_factor.start(info.context.runtime, account, password, info.context.meta)


async def cancel(info: Info) -> TwoFactorStatus:
    account, _ = signed_in(info)
    await two_factor.cancel(account)
    return await _status(info, account.id)


async def confirm(info: Info, *, code: str) -> NewBackupCodes:
    account, _ = signed_in(info)
    codes = await two_factor.confirm(info.context.runtime, account, code, info.context.meta)
    return NewBackupCodes(await _status(info, account.id), codes)


async def regenerate_backup_codes(info: Info, *, password: str) -> NewBackupCodes:
    account, _ = signed_in(info)
    codes = await backup_codes.regenerate(
        info.context.runtime, account, password, info.context.meta
    )
    return NewBackupCodes(await _status(info, account.id), codes)


async def disable(info: Info, *, password: str, confirm: bool) -> TwoFactorStatus:
    account, _ = signed_in(info)
    await two_factor.disable(info.context.runtime, account, password, confirm, info.context.meta)
    return await _status(info, account.id)
