"""What an account's 2FA looks like from outside: the `TwoFactorStatus` of the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from models import BackupCode, TwoFactor
from models.two_factor import TwoFactorState
from services.runtime import Runtime


@dataclass(frozen=True)
class TwoFactorStatus:
    enabled: bool
    enabled_at: datetime | None
    pending_setup: bool
    backup_codes_remaining: int
    backup_codes_generated_at: datetime | None


async def get_status(rt: Runtime, account_id: int) -> TwoFactorStatus:
    device = await TwoFactor.get_or_none(account_id=account_id)
    active = device is not None and device.state == TwoFactorState.ACTIVE
    pending = (
        device is not None
        and device.state == TwoFactorState.PENDING
        and device.pending_expires_at is not None
        and device.pending_expires_at > rt.clock.now()
    )
    return TwoFactorStatus(
        enabled=active,
        enabled_at=device.enabled_at if active and device else None,
        pending_setup=pending,
        backup_codes_remaining=await remaining_backup_codes(account_id) if active else 0,
        backup_codes_generated_at=device.backup_codes_generated_at if active and device else None,
    )


async def remaining_backup_codes(
    account_id: int, connection: BaseDBAsyncClient | None = None
) -> int:
    return await BackupCode.filter(account_id=account_id, used_at=None).using_db(connection).count()
