"""Support's actions, one audit line each (logger "verrou.audit").

Support hold the keys to every customer's 2FA, so what they do is written down twice: as a
security event on the customer's account (the customer sees it, without support's IP address)
and here, with the support account's id, for the operator. A line names ids only: never a
document's name or content, a note, an email address or anything else of the customer's.
"""

from __future__ import annotations

import logging
from enum import StrEnum

logger = logging.getLogger("verrou.audit")


class SupportAction(StrEnum):
    QUEUE_VIEWED = "QUEUE_VIEWED"
    RECOVERY_APPROVED = "RECOVERY_APPROVED"  # 2FA off at once (no waiting period)
    RECOVERY_SCHEDULED = "RECOVERY_SCHEDULED"  # approved: 2FA off after the waiting period
    RECOVERY_REJECTED = "RECOVERY_REJECTED"
    DOCUMENT_OPENED = "DOCUMENT_OPENED"


def support_action(
    action: SupportAction,
    support_account_id: int,
    *,
    account_id: int | None = None,
    request_id: int | None = None,
    document_id: int | None = None,
) -> None:
    """Write the line; the ids are also fields of their own in JSON logs."""
    about = {
        "account_id": account_id,
        "request_id": request_id,
        "document_id": document_id,
    }
    named = " ".join(f"{key}={value}" for key, value in about.items() if value is not None)
    logger.info(
        "support action %s by support account %s%s",
        action.value,
        support_account_id,
        f" ({named})" if named else "",
        extra={
            "audit": "support_action",
            "action": action.value,
            "support_account_id": support_account_id,
            **{key: value for key, value in about.items() if value is not None},
        },
    )
