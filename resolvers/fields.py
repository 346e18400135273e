"""Resolvers of object fields. They return service objects whose attributes already have
the GraphQL field names (snake_case), so no mapping layer is needed. Who may read what is
services.access's to say."""

from __future__ import annotations

from graphql import OperationType

from resolvers.context import Info
from resolvers.errors import raised_top_level
from services import access, device_sessions, documents, history, pagination, reads, status
from services import authenticators as authenticator_service
from services.authenticators import Authenticator
from services.i18n import translate
from services.pagination import Page
from services.records import (
    Account,
    DeviceSession,
    Notification,
    RecoveryDocument,
    RecoveryRequest,
    RecoveryStatus,
    SecurityEvent,
)
from services.status import TwoFactorStatus

DEFAULT_PAGE = 20


def _page_size(first: int | None) -> int:
    return DEFAULT_PAGE if first is None else first


async def two_factor_status(info: Info, account_id: int) -> TwoFactorStatus:
    return status_at_hand(info, account_id) or await status.get_status(
        info.context.runtime, account_id
    )


def status_at_hand(info: Info, account_id: int) -> TwoFactorStatus | None:
    """The status the request already holds (primed by a mutation, or read with the session
    for a query), without a query; None when it must be read."""
    primed = info.context.primed_two_factor.get(account_id)
    if primed is not None:
        return primed
    context = info.context
    if (
        context.session_status is not None
        and context.session is not None
        and context.session.account_id == account_id
        and info.operation.operation is OperationType.QUERY
    ):
        return context.session_status
    return None


async def notification_account(info: Info, notification: Notification) -> Account:
    with raised_top_level(info):
        return reads.notification_owner(info.context.account, notification)


async def security_events(
    info: Info, account: Account, first: int | None, after: str | None
) -> Page[SecurityEvent]:
    with raised_top_level(info):
        return await history.security_events(account.id, first=_page_size(first), after=after)


async def notifications(
    info: Info, account: Account, first: int | None, after: str | None, unread_only: bool
) -> Page[Notification]:
    with raised_top_level(info):
        return await reads.notifications(
            info.context.account,
            account.id,
            first=_page_size(first),
            after=after,
            unread_only=unread_only,
        )


async def unread_notification_count(info: Info, account: Account) -> int:
    with raised_top_level(info):
        return await reads.unread_notification_count(info.context.account, account.id)


def notification_message(info: Info, notification: Notification) -> str:
    return translate(notification.message_key, info.context.locale, notification.params)


async def recovery_queue(
    info: Info, status: RecoveryStatus | None, first: int | None, after: str | None
) -> Page[RecoveryRequest]:
    with raised_top_level(info):
        return await reads.recovery_queue(
            info.context.account,
            status,
            first=_page_size(first),
            after=after,
        )


async def recovery_account(info: Info, request: RecoveryRequest) -> Account | None:
    if not access.is_support(info.context.account):
        return None
    return await info.context.loaders.accounts.load(request.account_id)


async def requester_account(info: Info, account_id: int) -> Account | None:
    return await reads.requester_account(info.context.account, account_id)


async def recovery_resolved_by(info: Info, request: RecoveryRequest) -> str | None:
    if not access.is_support(info.context.account) or request.reviewer_id is None:
        return None
    reviewer = await info.context.loaders.accounts.load(request.reviewer_id)
    return reviewer.email if reviewer is not None else None


async def recovery_documents(info: Info, request: RecoveryRequest) -> list[RecoveryDocument]:
    if not access.is_support(info.context.account):
        return []
    return await info.context.loaders.recovery_documents.load(request.id)


def download_url(info: Info, document: RecoveryDocument) -> str:
    return documents.download_url(info.context.runtime, document.id)


async def visible_recovery_request(info: Info, request_id: int) -> RecoveryRequest | None:
    return await reads.recovery_request(info.context.account, request_id)


async def account_sessions(info: Info, account: Account) -> list[DeviceSession]:
    context = info.context
    current = context.session.id if context.session is not None else None
    with raised_top_level(info):
        return await device_sessions.list_for(context.runtime, context.account, account.id, current)


async def authenticators(info: Info, status: TwoFactorStatus) -> list[Authenticator]:
    return await authenticator_service.list_for(status.account_id, info.context.locale)


def notification_cursor(notification: Notification) -> str:
    """The cursor the feed's edge of this notification has (notifications(after:) reads it)."""
    return pagination.encode_cursor(notification.id)
