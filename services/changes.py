"""A change to an account: recorded in its transaction, told after the commit.

Every change worth telling the customer about writes its rows, its SecurityEvent and its
Notification (whose email goes to the outbox) in one transaction, so all of them commit or
none does. Only after the commit are the notifications published to live subscribers and the
mail worker woken: never for a change that rolled back, and never before the worker can read
the rows it is woken for.

    async with changes.account_change(rt, account, meta) as change:
        ...  # the change's own writes, through change.connection
        await change.record_event(SecurityEventKind.TWO_FACTOR_ENABLED)
        await change.notify(NotificationKind.TWO_FACTOR_ENABLED)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import Account, Notification, Session
from services import notifications, security_events, session_events
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind


@dataclass
class Change:
    """The open transaction of a change to `account`, and what it will tell after commit."""

    rt: Runtime
    account: Account
    meta: RequestMeta
    connection: BaseDBAsyncClient
    notifications: list[Notification] = field(default_factory=list)
    # Sessions this change revoked: their sockets close after the notifications are out.
    ended_sessions: list[int] = field(default_factory=list)

    async def record_event(self, kind: SecurityEventKind) -> None:
        await security_events.record(self.rt, self.account.id, kind, self.meta, self.connection)

    async def notify(
        self,
        kind: NotificationKind,
        params: dict[str, object] | None = None,
        *,
        email_params: dict[str, object] | None = None,
        email: bool = True,
        message_key: str | None = None,
    ) -> Notification:
        """The feed row and the billing contact's email now; the live event after commit.
        `email_params` reach the email only: a link carrying a token is never kept in the
        feed, which the API serves. `email=False`: the action's own email already says it."""
        notification = await notifications.record(
            self.rt,
            self.account,
            kind,
            self.meta,
            self.connection,
            params,
            email_params,
            email=email,
            message_key=message_key,
        )
        self.notifications.append(notification)
        return notification

    async def end_sessions(self, *, keep: int | None = None) -> int:
        """Revoke every open session of the account but `keep`; how many ended. Their
        WebSockets close (4403, on every process) once the change is committed and its
        notifications are published, so an open page hears why before its socket closes."""
        open_sessions = Session.filter(account_id=self.account.id, revoked_at=None)
        if keep is not None:
            open_sessions = open_sessions.exclude(id=keep)
        ids: list[int] = [
            row["id"] for row in await open_sessions.using_db(self.connection).values("id")
        ]
        if ids:
            await (
                Session.filter(id__in=ids)
                .using_db(self.connection)
                .update(revoked_at=self.rt.clock.now())
            )
            self.ended_sessions.extend(ids)
        return len(ids)

    async def end_session(self, session_id: int) -> bool:
        """Revoke one open session of the account; False when it is not one (another
        account's, or ended already). Its sockets close as end_sessions' do."""
        ended = (
            await Session.filter(id=session_id, account_id=self.account.id, revoked_at=None)
            .using_db(self.connection)
            .update(revoked_at=self.rt.clock.now())
        )
        if ended:
            self.ended_sessions.append(session_id)
        return ended == 1


@asynccontextmanager
async def account_change(
    rt: Runtime,
    account: Account,
    meta: RequestMeta,
    *,
    on_rollback: Callable[[], None] | None = None,
) -> AsyncIterator[Change]:
    """One transaction for the change; `on_rollback` undoes what it cannot (files written
    before it) when it does not commit, whatever the reason."""
    try:
        async with in_transaction() as connection:
            change = Change(rt, account, meta, connection)
            yield change
    except BaseException:
        if on_rollback is not None:
            on_rollback()
        raise
    await notifications.publish(rt, account, change.notifications)
    if change.ended_sessions:
        await session_events.announce_ended(rt, account.id, change.ended_sessions)
