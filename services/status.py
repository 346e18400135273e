"""What an account's 2FA looks like from outside: the `TwoFactorStatus` of the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from models import BackupCode, Session, TwoFactor
from models.two_factor import TwoFactorState
from services.runtime import Runtime
from services.session_lookup import UNUSED_CODES


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
    remaining = await remaining_backup_codes(account_id) if active else 0
    return status_of(rt, device, remaining)


def status_of_session(rt: Runtime, session: Session) -> TwoFactorStatus:
    """The status that came with a signed-in session: services.session_lookup reads the
    account's device and unused-code count in the statement that finds the session, so
    `twoFactorStatus` and `viewer { twoFactor }` cost no query of their own."""
    device: TwoFactor | None = getattr(session.account, "two_factor", None)
    return status_of(rt, device, getattr(session, UNUSED_CODES))


def status_of(rt: Runtime, device: TwoFactor | None, remaining: int) -> TwoFactorStatus:
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
        backup_codes_remaining=remaining if active else 0,
        backup_codes_generated_at=device.backup_codes_generated_at if active and device else None,
    )


async def remaining_backup_codes(
    account_id: int, connection: BaseDBAsyncClient | None = None
) -> int:
    return await BackupCode.filter(account_id=account_id, used_at=None).using_db(connection).count()
