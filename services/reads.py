"""What the API reads for a viewer, each read checked against services.access.

The viewer is the signed-in account, or None (see services/access.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from models import Account, Notification, RecoveryRequest
from models.recovery import RecoveryStatus
from services import access, history, recovery
from services.pagination import Page


async def notifications(
    viewer: Account | None, account_id: int, *, first: int, after: str | None, unread_only: bool
) -> Page[Notification]:
    access.require_owner(viewer, account_id)
    return await history.notifications(
        account_id, first=first, after=after, unread_only=unread_only
    )


async def unread_notification_count(viewer: Account | None, account_id: int) -> int:
    access.require_owner(viewer, account_id)
    return await history.unread_notification_count(account_id)


def notification_owner(viewer: Account | None, notification: Notification) -> Account:
    # Only the owner ever sees a notification, so the owner is the signed-in account.
    return access.require_signed_in_owner(viewer, notification.account_id)


async def recovery_queue(
    viewer: Account | None, status: RecoveryStatus | None, *, first: int, after: str | None
) -> Page[RecoveryRequest]:
    support = await access.require_acting_support(viewer)
    return await recovery.queue(status, first=first, after=after, viewer=support)


async def requester_account(viewer: Account | None, account_id: int) -> Account | None:
    """Support sees the account of every recovery request (RecoveryRequest.account), so
    `node` refetches it too: a Relay client refreshes an object through `node`."""
    if not access.is_support(viewer) or not await RecoveryRequest.exists(account_id=account_id):
        return None
    return await Account.get_or_none(id=account_id)


async def recovery_request(viewer: Account | None, request_id: int) -> RecoveryRequest | None:
    return await recovery.visible(viewer, request_id) if viewer is not None else None


async def accounts_by_id(ids: Sequence[int]) -> list[Account | None]:
    """Several accounts in one query, in the order asked (None for an id not found)."""
    found = {account.id: account for account in await Account.filter(id__in=list(ids))}
    return [found.get(account_id) for account_id in ids]
