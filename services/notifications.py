"""Notifications: a row in the account's feed, emails to the account holder (the account email,
and the billing contact once verified: services.emails.recipients), and a live
event to every open subscription — the first two in the change's own transaction, the
event only after it commits (services.changes does both, in that order)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient

from models import Account, Notification
from models.accounts import Locale, Role
from services import emails, pagination, status
from services.runtime import RequestMeta, Runtime
from services.status import TwoFactorStatus

logger = logging.getLogger("verrou.notifications")


class NotificationKind(StrEnum):
    TWO_FACTOR_ENABLED = "TWO_FACTOR_ENABLED"
    TWO_FACTOR_DISABLED = "TWO_FACTOR_DISABLED"
    BACKUP_CODES_REGENERATED = "BACKUP_CODES_REGENERATED"
    BACKUP_CODE_USED = "BACKUP_CODE_USED"
    BACKUP_CODES_LOW = "BACKUP_CODES_LOW"
    RECOVERY_REQUESTED = "RECOVERY_REQUESTED"
    RECOVERY_APPROVED = "RECOVERY_APPROVED"
    RECOVERY_REJECTED = "RECOVERY_REJECTED"
    SESSIONS_REVOKED = "SESSIONS_REVOKED"
    NEW_SIGN_IN = "NEW_SIGN_IN"
    SECOND_FACTOR_FAILURES = "SECOND_FACTOR_FAILURES"
    RECOVERY_SCHEDULED = "RECOVERY_SCHEDULED"
    RECOVERY_CANCELLED = "RECOVERY_CANCELLED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"  # noqa: S105 (a kind, not a secret)
    BILLING_CONTACT_CHANGED = "BILLING_CONTACT_CHANGED"
    BILLING_CONTACT_VERIFIED = "BILLING_CONTACT_VERIFIED"
    ACCOUNT_UPDATED = "ACCOUNT_UPDATED"
    PASSWORD_RESET_REQUESTED = "PASSWORD_RESET_REQUESTED"  # noqa: S105 (a kind, not a secret)
    DEVICE_REMEMBERED = "DEVICE_REMEMBERED"
    AUTHENTICATOR_ADDED = "AUTHENTICATOR_ADDED"
    AUTHENTICATOR_REMOVED = "AUTHENTICATOR_REMOVED"
    SECURITY_KEY_FLAGGED = "SECURITY_KEY_FLAGGED"


LEVELS = {
    NotificationKind.TWO_FACTOR_ENABLED: "SUCCESS",
    NotificationKind.TWO_FACTOR_DISABLED: "SUCCESS",
    NotificationKind.BACKUP_CODES_REGENERATED: "SUCCESS",
    NotificationKind.BACKUP_CODE_USED: "WARNING",
    NotificationKind.BACKUP_CODES_LOW: "WARNING",
    NotificationKind.RECOVERY_REQUESTED: "INFO",
    NotificationKind.RECOVERY_APPROVED: "SUCCESS",
    NotificationKind.RECOVERY_REJECTED: "WARNING",
    NotificationKind.SESSIONS_REVOKED: "WARNING",
    NotificationKind.NEW_SIGN_IN: "WARNING",
    NotificationKind.SECOND_FACTOR_FAILURES: "WARNING",
    NotificationKind.RECOVERY_SCHEDULED: "WARNING",
    NotificationKind.RECOVERY_CANCELLED: "INFO",
    NotificationKind.PASSWORD_CHANGED: "WARNING",
    NotificationKind.BILLING_CONTACT_CHANGED: "INFO",
    NotificationKind.BILLING_CONTACT_VERIFIED: "INFO",
    NotificationKind.ACCOUNT_UPDATED: "INFO",
    NotificationKind.PASSWORD_RESET_REQUESTED: "WARNING",
    NotificationKind.DEVICE_REMEMBERED: "INFO",
    NotificationKind.AUTHENTICATOR_ADDED: "SUCCESS",
    NotificationKind.AUTHENTICATOR_REMOVED: "WARNING",
    NotificationKind.SECURITY_KEY_FLAGGED: "WARNING",
}


@dataclass(frozen=True)
class LiveNotification:
    """What a subscriber receives: enough to answer the subscription without a query."""

    notification: Notification
    account: Account
    two_factor: TwoFactorStatus


async def record(
    rt: Runtime,
    account: Account,
    kind: NotificationKind,
    meta: RequestMeta,
    connection: BaseDBAsyncClient,
    params: dict[str, object] | None = None,
    email_params: dict[str, object] | None = None,
    *,
    email: bool = True,
    message_key: str | None = None,
) -> Notification:
    """Write the feed row and the emails in the caller's transaction (`Change.notify`);
    `email_params` go into the email only, never into the stored feed row. `email=False`
    when the action's own email already tells it (a reset link), so nobody gets two.
    `message_key` picks a variant of the kind's message (NOTIFICATION_<KIND> by default)."""
    params = params or {}
    notification = await Notification.create(
        using_db=connection,
        account_id=account.id,
        kind=kind.value,
        level=LEVELS[kind],
        message_key=message_key or f"NOTIFICATION_{kind.value}",
        params=params,
        created_at=rt.clock.now(),
    )
    if email:
        await emails.enqueue(
            rt, account, kind.value, meta, {**params, **(email_params or {})}, connection
        )
    return notification


async def publish(rt: Runtime, account: Account, notifications: list[Notification]) -> None:
    """After commit (`changes.account_change`): wake the mail worker and push the events
    to live subscribers. A change that told nothing (a sign-in from a known device) queued
    no email either, and wakes nobody: the worker's pass is a query of its own. (A change
    that queues an email without a notification wakes the worker itself, as
    account_settings does; else the worker's poll finds the email.)"""
    if not notifications:
        return
    rt.mail_ready.set()
    snapshot = await status.get_status(rt, account.id)
    for notification in notifications:
        try:
            await rt.broker.publish(account.id, encode(notification, account, snapshot))
        except OSError:
            # The change is committed and the feed has it: a broker outage costs only the
            # live banner, which clients recover from the feed.
            logger.exception("could not publish notification %s", notification.id)


def replay_boundary(after: str) -> int:
    """The notification key in a feed cursor (`viewer.notifications` edges' or endCursor);
    InvalidInput on `after` for any other text."""
    return pagination.decode_cursor(after, "after")


async def newer_than(account_id: int, boundary: int) -> AsyncIterator[Notification]:
    """The account's notifications after the cursor's key, oldest first. Only the account's
    own: a cursor from another account's feed names a key and nothing else, so it reveals
    nothing of that account. Read a page at a time, however long the client was away."""
    while True:
        rows = (
            await Notification.filter(account_id=account_id, id__gt=boundary)
            .order_by("id")
            .limit(pagination.MAX_PAGE)
        )
        for row in rows:
            yield row
        if len(rows) < pagination.MAX_PAGE:
            return
        boundary = rows[-1].id


def encode(notification: Notification, account: Account, two_factor: TwoFactorStatus) -> str:
    return json.dumps(
        {
            "notification": {
                "id": notification.id,
                "kind": notification.kind,
                "level": notification.level,
                "message_key": notification.message_key,
                "params": notification.params,
                "created_at": notification.created_at.isoformat(),
            },
            "account": {
                "id": account.id,
                "email": account.email,
                "company_name": account.company_name,
                "billing_contact_email": account.billing_contact_email,
                "billing_contact_verified": account.billing_contact_verified,
                "locale": account.locale.value,
                "role": account.role.value,
                "created_at": account.created_at.isoformat(),
                "two_factor_enabled_at": _iso(account.two_factor_enabled_at),
                "backup_codes_generated_at": _iso(account.backup_codes_generated_at),
            },
            "two_factor": {
                key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in asdict(two_factor).items()
            },
        }
    )


# Every subscriber of an account receives the same message: decode it once, and hand them
# all the same objects (read-only from here on), which also lets the API layer share one
# execution of the event among them.
@functools.lru_cache(maxsize=64)
def decode(message: str) -> LiveNotification:
    event = json.loads(message)
    note, owner, two_factor = event["notification"], event["account"], event["two_factor"]
    account = Account(
        id=owner["id"],
        email=owner["email"],
        company_name=owner["company_name"],
        billing_contact_email=owner["billing_contact_email"],
        billing_contact_verified=owner.get("billing_contact_verified", False),
        locale=Locale(owner["locale"]),
        role=Role(owner["role"]),
        created_at=datetime.fromisoformat(owner["created_at"]),
        two_factor_enabled_at=_datetime(owner.get("two_factor_enabled_at")),
        backup_codes_generated_at=_datetime(owner.get("backup_codes_generated_at")),
    )
    notification = Notification(
        id=note["id"],
        account_id=owner["id"],
        kind=note["kind"],
        level=note["level"],
        message_key=note["message_key"],
        params=note["params"],
        created_at=datetime.fromisoformat(note["created_at"]),
        read_at=None,
    )
    return LiveNotification(
        notification=notification,
        account=account,
        two_factor=TwoFactorStatus(
            enabled=two_factor["enabled"],
            enabled_at=_datetime(two_factor["enabled_at"]),
            pending_setup=two_factor["pending_setup"],
            backup_codes_remaining=two_factor["backup_codes_remaining"],
            backup_codes_generated_at=_datetime(two_factor["backup_codes_generated_at"]),
            method=two_factor.get("method"),
            account_id=two_factor.get("account_id", owner["id"]),
        ),
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
