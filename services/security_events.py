"""The account's security history: one row for every sign-in and every 2FA change."""

from __future__ import annotations

import functools
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import SecurityEvent
from services import batches, statements
from services.batches import Batch
from services.runtime import RequestMeta, Runtime


class SecurityEventKind(StrEnum):
    SIGNED_IN = "SIGNED_IN"
    SIGN_IN_FAILED = "SIGN_IN_FAILED"
    SECOND_FACTOR_FAILED = "SECOND_FACTOR_FAILED"
    BACKUP_CODE_USED = "BACKUP_CODE_USED"
    TWO_FACTOR_SETUP_STARTED = "TWO_FACTOR_SETUP_STARTED"
    TWO_FACTOR_ENABLED = "TWO_FACTOR_ENABLED"
    TWO_FACTOR_DISABLED = "TWO_FACTOR_DISABLED"
    BACKUP_CODES_REGENERATED = "BACKUP_CODES_REGENERATED"
    RECOVERY_REQUESTED = "RECOVERY_REQUESTED"
    RECOVERY_APPROVED = "RECOVERY_APPROVED"
    RECOVERY_REJECTED = "RECOVERY_REJECTED"
    SIGNED_OUT = "SIGNED_OUT"
    SESSION_REVOKED = "SESSION_REVOKED"
    DEVICE_REMEMBERED = "DEVICE_REMEMBERED"
    RECOVERY_SCHEDULED = "RECOVERY_SCHEDULED"
    RECOVERY_CANCELLED = "RECOVERY_CANCELLED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"  # noqa: S105 (a kind, not a secret)
    PASSWORD_RESET_REQUESTED = "PASSWORD_RESET_REQUESTED"  # noqa: S105 (a kind)
    PASSWORD_RESET = "PASSWORD_RESET"  # noqa: S105 (a kind, not a secret)
    ACCOUNT_SECURED = "ACCOUNT_SECURED"
    ACCOUNT_UPDATED = "ACCOUNT_UPDATED"
    BILLING_CONTACT_VERIFIED = "BILLING_CONTACT_VERIFIED"
    AUTHENTICATOR_ADDED = "AUTHENTICATOR_ADDED"
    AUTHENTICATOR_REMOVED = "AUTHENTICATOR_REMOVED"
    SECURITY_KEY_USED = "SECURITY_KEY_USED"
    SECURITY_KEY_REJECTED = "SECURITY_KEY_REJECTED"
    SECURITY_KEY_FLAGGED = "SECURITY_KEY_FLAGGED"
    RECOVERY_DOCUMENT_OPENED = "RECOVERY_DOCUMENT_OPENED"


async def record(
    rt: Runtime,
    account_id: int,
    kind: SecurityEventKind,
    meta: RequestMeta,
    connection: BaseDBAsyncClient | None = None,
) -> SecurityEvent:
    """Write the event; pass the change's transaction so both commit or neither does."""
    rt.metrics.count_security_event(kind.value)
    batch = functools.partial(
        recorded, account_id=account_id, kind=kind, meta=meta, now=rt.clock.now()
    )
    return await batches.run(batch, connection)


def recorded(
    dialect: str, account_id: int, kind: SecurityEventKind, meta: RequestMeta, now: datetime
) -> Batch[SecurityEvent]:
    """`record` within a batch (services.batches), but for the metric: the caller counts
    it (`Metrics.count_security_event`) once the batch is through."""
    return statements.created(SecurityEvent, dialect, **_values(account_id, kind, meta, now))


def written(
    dialect: str, account_id: int, kind: SecurityEventKind, meta: RequestMeta, now: datetime
) -> Batch[int]:
    """`recorded` for a caller that does not read the event back: its id, and no model
    instance made (on the sign-in's path)."""
    return statements.inserted_id(SecurityEvent, dialect, **_values(account_id, kind, meta, now))


def _values(
    account_id: int, kind: SecurityEventKind, meta: RequestMeta, now: datetime
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "kind": kind.value,
        "created_at": now,
        "ip_address": meta.ip_address,
        "user_agent": meta.stored_user_agent,
    }
