"""What an account's 2FA looks like from outside: the `TwoFactorStatus` of the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import RawSQL, Subquery
from tortoise.functions import Count

from models import BackupCode, Session, TwoFactor
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
    remaining = await remaining_backup_codes(account_id) if active else 0
    return status_of(rt, device, remaining)


# The session lookup that signs a request in (services.accounts.authenticate) brings the
# account's device and this count in the same statement, so that `twoFactorStatus` and
# `viewer { twoFactor }` cost no query of their own: the status is the most read thing
# of the API, by every page of the customer area.
SESSION_STATUS_RELATIONS = ("account", "account__two_factor")
REMAINING_ANNOTATION = "backup_codes_remaining"


def remaining_backup_codes_of_session() -> Subquery:
    """A correlated sub-select counting the unused backup codes of the session's account."""
    return Subquery(
        BackupCode.filter(account_id=RawSQL('"session"."account_id"'), used_at=None)
        .annotate(unused=Count("id"))
        .values("unused")
    )


def status_of_session(rt: Runtime, session: Session) -> TwoFactorStatus:
    """The status that came with a session fetched as above."""
    device: TwoFactor | None = getattr(session.account, "two_factor", None)
    return status_of(rt, device, getattr(session, REMAINING_ANNOTATION))


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
