"""Resolvers of object fields. They return service objects whose attributes already have
the GraphQL field names (snake_case), so no mapping layer is needed."""

from __future__ import annotations

import strawberry
from graphql import OperationType

from models import Account, Notification, RecoveryDocument, RecoveryRequest, SecurityEvent
from models.accounts import Role
from models.recovery import RecoveryStatus
from resolvers.context import Context
from resolvers.errors import top_level_error
from services import documents, history, recovery, status
from services.errors import Forbidden, VerrouError
from services.i18n import translate
from services.pagination import Page
from services.status import TwoFactorStatus

Info = strawberry.Info[Context, None]
DEFAULT_PAGE = 20


def _page_size(first: int | None) -> int:
    return DEFAULT_PAGE if first is None else first


async def two_factor_status(
    info: strawberry.Info[Context, None], account_id: int
) -> TwoFactorStatus:
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
    return await status.get_status(context.runtime, account_id)


async def notification_account(
    info: strawberry.Info[Context, None], notification: Notification
) -> Account:
    # Only the owner ever sees a notification, so the owner is the signed-in account.
    account = info.context.account
    if account is None or account.id != notification.account_id:
        raise top_level_error(Forbidden(), info.context.locale)
    return account


async def security_events(
    info: strawberry.Info[Context, None], account: Account, first: int | None, after: str | None
) -> Page[SecurityEvent]:
    try:
        return await history.security_events(account.id, first=_page_size(first), after=after)
    except VerrouError as error:
        raise top_level_error(error, info.context.locale) from None


async def notifications(
    info: strawberry.Info[Context, None],
    account: Account,
    first: int | None,
    after: str | None,
    unread_only: bool,
) -> Page[Notification]:
    _owner_only(info, account)
    try:
        return await history.notifications(
            account.id, first=_page_size(first), after=after, unread_only=unread_only
        )
    except VerrouError as error:
        raise top_level_error(error, info.context.locale) from None


async def unread_notification_count(info: strawberry.Info[Context, None], account: Account) -> int:
    _owner_only(info, account)
    return await history.unread_notification_count(account.id)


def _owner_only(info: strawberry.Info[Context, None], account: Account) -> None:
    """A notification inbox is its owner's alone: support reaches an account through a
    recovery request to decide it, not to read its mail. A request without a session reaches
    an account only through the session it has just opened (signUp, signIn, verifySignIn),
    which is that account's own."""
    viewer = info.context.account
    if viewer is not None and viewer.id != account.id:
        raise top_level_error(Forbidden(), info.context.locale)


def notification_message(info: strawberry.Info[Context, None], notification: Notification) -> str:
    return translate(notification.message_key, info.context.locale, notification.params)


def _is_support(info: Info) -> bool:
    account = info.context.account
    return account is not None and account.role == Role.SUPPORT


async def recovery_queue(
    info: Info, status: str | None, first: int | None, after: str | None
) -> Page[RecoveryRequest]:
    if not _is_support(info):
        raise top_level_error(Forbidden(), info.context.locale)
    try:
        return await recovery.queue(
            RecoveryStatus(status) if status else None,
            first=_page_size(first),
            after=after,
        )
    except VerrouError as error:
        raise top_level_error(error, info.context.locale) from None


async def recovery_account(info: Info, request: RecoveryRequest) -> Account | None:
    if not _is_support(info):
        return None
    return await info.context.loaders.accounts.load(request.account_id)


async def requester_account(info: Info, account_id: int) -> Account | None:
    """Support sees the account of every recovery request (RecoveryRequest.account), so
    `node` refetches it too: a Relay client refreshes an object through `node`."""
    if not _is_support(info) or not await RecoveryRequest.exists(account_id=account_id):
        return None
    return await Account.get_or_none(id=account_id)


async def recovery_documents(info: Info, request: RecoveryRequest) -> list[RecoveryDocument]:
    if not _is_support(info):
        return []
    return await info.context.loaders.recovery_documents.load(request.id)


def download_url(info: Info, document: RecoveryDocument) -> str:
    return documents.download_url(info.context.runtime, document.id)


async def visible_recovery_request(info: Info, request_id: int) -> RecoveryRequest | None:
    viewer = info.context.account
    return await recovery.visible(viewer, request_id) if viewer is not None else None
