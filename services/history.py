"""What an account can read of its own past: security events and notifications."""

from __future__ import annotations

from models import Notification, SecurityEvent
from services.pagination import Page, page
from services.runtime import Runtime


async def security_events(account_id: int, *, first: int, after: str | None) -> Page[SecurityEvent]:
    return await page(SecurityEvent.filter(account_id=account_id), first=first, after=after)


async def notifications(
    account_id: int, *, first: int, after: str | None, unread_only: bool
) -> Page[Notification]:
    query = Notification.filter(account_id=account_id)
    if unread_only:
        query = query.filter(read_at=None)
    return await page(query, first=first, after=after)


async def unread_notification_count(account_id: int) -> int:
    return await Notification.filter(account_id=account_id, read_at=None).count()


async def mark_notifications_read(
    rt: Runtime, account_id: int, notification_ids: list[int] | None
) -> int:
    """Mark the given notifications (all when None or empty) read; the unread count left."""
    unread = Notification.filter(account_id=account_id, read_at=None)
    if notification_ids:
        unread = unread.filter(id__in=notification_ids)
    await unread.update(read_at=rt.clock.now())
    return await unread_notification_count(account_id)


async def find_own(kind: str, pk: int, account_id: int) -> Notification | SecurityEvent | None:
    """A notification or security event, only if it belongs to the account."""
    if kind == "Notification":
        return await Notification.get_or_none(id=pk, account_id=account_id)
    if kind == "SecurityEvent":
        return await SecurityEvent.get_or_none(id=pk, account_id=account_id)
    return None
