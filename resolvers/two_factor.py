"""twoFactorStatus and the 2FA mutations."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

from resolvers.context import Info
from resolvers.errors import signed_in, top_level_error
from resolvers.fields import status_at_hand, two_factor_status
from services import backup_codes, two_factor
from services import status as status_service
from services.errors import Unauthenticated
from services.records import Account
from services.status import TwoFactorStatus
from services.two_factor import TwoFactorSetup


@dataclass(frozen=True)
class TwoFactorChange:
    """The signed-in account and its 2FA status after a change, read fresh: the payload
    returns both, so a client cache merges the new status into the account it holds."""

    account: Account
    status: TwoFactorStatus


@dataclass(frozen=True)
class NewBackupCodes(TwoFactorChange):
    """After 2FA was turned on or its codes replaced, with the codes, shown once (None: a
    TOTP app added while security keys had 2FA on already)."""

    backup_codes: list[str] | None


async def _status(info: Info, account_id: int) -> TwoFactorStatus:
    return await status_service.get_status(info.context.runtime, account_id)


async def _changed(info: Info, account: Account) -> TwoFactorChange:
    return TwoFactorChange(account, await _status(info, account.id))


def status(info: Info) -> TwoFactorStatus | Awaitable[TwoFactorStatus]:
    """Not a coroutine when the status came with the session (the usual query): graphql-core
    then completes the field without awaiting anything, a good part of the cost of
    `twoFactorStatus` (bench/profile_status.py)."""
    if info.context.session is None:
        raise top_level_error(Unauthenticated(), info.context.locale)
    account_id = info.context.session.account_id
    return status_at_hand(info, account_id) or two_factor_status(info, account_id)


async def start(info: Info, *, password: str) -> TwoFactorSetup:
    account, _ = signed_in(info)
    return await two_factor.start(info.context.runtime, account, password, info.context.meta)


async def cancel(info: Info) -> TwoFactorChange:
    account, _ = signed_in(info)
    await two_factor.cancel(account)
    return await _changed(info, account)


async def confirm(info: Info, *, code: str) -> NewBackupCodes:
    account, _ = signed_in(info)
    codes = await two_factor.confirm(info.context.runtime, account, code, info.context.meta)
    return NewBackupCodes(account, await _status(info, account.id), codes)


async def regenerate_backup_codes(info: Info, *, password: str) -> NewBackupCodes:
    account, _ = signed_in(info)
    codes = await backup_codes.regenerate(
        info.context.runtime, account, password, info.context.meta
    )
    return NewBackupCodes(account, await _status(info, account.id), codes)


async def disable(info: Info, *, password: str, confirm: bool) -> TwoFactorChange:
    account, _ = signed_in(info)
    await two_factor.disable(info.context.runtime, account, password, confirm, info.context.meta)
    return await _changed(info, account)
