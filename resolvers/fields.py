"""Resolvers of object fields. They return service objects whose attributes already have
the GraphQL field names (snake_case), so no mapping layer is needed."""

from __future__ import annotations

import strawberry

from models import Account, Notification, SecurityEvent
from resolvers.context import Context
from resolvers.errors import top_level_error
from services import history, status
from services.errors import Forbidden, VerrouError
from services.i18n import translate
from services.pagination import Page
from services.status import TwoFactorStatus

DEFAULT_PAGE = 20


def _page_size(first: int | None) -> int:
    return DEFAULT_PAGE if first is None else first


async def two_factor_status(
    info: strawberry.Info[Context, None], account_id: int
) -> TwoFactorStatus:
    primed = info.context.primed_two_factor.get(account_id)
    if primed is not None:
        return primed
    return await status.get_status(info.context.runtime, account_id)


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
    try:
        return await history.notifications(
            account.id, first=_page_size(first), after=after, unread_only=unread_only
        )
    except VerrouError as error:
        raise top_level_error(error, info.context.locale) from None


async def unread_notification_count(account: Account) -> int:
    return await history.unread_notification_count(account.id)


def notification_message(info: strawberry.Info[Context, None], notification: Notification) -> str:
    return translate(notification.message_key, info.context.locale, notification.params)
