"""What an account's 2FA looks like from outside: the `TwoFactorStatus` of the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from models import Account, BackupCode, Session, TwoFactor
from models.two_factor import TwoFactorState
from services.runtime import Runtime
from services.session_lookup import UNUSED_CODES

TOTP = "TOTP"
SECURITY_KEY = "SECURITY_KEY"


@dataclass(frozen=True)
class TwoFactorStatus:
    enabled: bool
    enabled_at: datetime | None
    pending_setup: bool
    backup_codes_remaining: int
    backup_codes_generated_at: datetime | None
    # TOTP while a TOTP app is set up, SECURITY_KEY when only keys are, None when off.
    method: str | None = None
    # Whose status it is: `authenticators` are read for this account when asked for.
    account_id: int = 0


async def get_status(rt: Runtime, account_id: int) -> TwoFactorStatus:
    account = await Account.get_or_none(id=account_id)
    device = await TwoFactor.get_or_none(account_id=account_id)
    on = account is not None and account.two_factor_on
    remaining = await remaining_backup_codes(account_id) if on else 0
    return status_of(rt, account, device, remaining)


def status_of_session(rt: Runtime, session: Session) -> TwoFactorStatus:
    """The status that came with a signed-in session: services.session_lookup reads the
    account, its TOTP app and unused-code count in the statement that finds the session, so
    `twoFactorStatus` and `viewer { twoFactor }` cost no query of their own."""
    account: Account = session.account
    device: TwoFactor | None = getattr(account, "two_factor", None)
    return status_of(rt, account, device, getattr(session, UNUSED_CODES))


def status_of(
    rt: Runtime, account: Account | None, device: TwoFactor | None, remaining: int
) -> TwoFactorStatus:
    on = account is not None and account.two_factor_on
    totp_active = device is not None and device.state == TwoFactorState.ACTIVE
    pending = (
        device is not None
        and device.state == TwoFactorState.PENDING
        and device.pending_expires_at is not None
        and device.pending_expires_at > rt.clock.now()
    )
    return TwoFactorStatus(
        enabled=on,
        enabled_at=account.two_factor_enabled_at if account and on else None,
        pending_setup=pending,
        backup_codes_remaining=remaining if on else 0,
        backup_codes_generated_at=account.backup_codes_generated_at if account and on else None,
        method=(TOTP if totp_active else SECURITY_KEY) if on else None,
        account_id=account.id if account else 0,
    )


async def remaining_backup_codes(
    account_id: int, connection: BaseDBAsyncClient | None = None
) -> int:
    return await BackupCode.filter(account_id=account_id, used_at=None).using_db(connection).count()
