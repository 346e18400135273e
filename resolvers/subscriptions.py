"""The live notifications of the signed-in account."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from resolvers.context import Info
from resolvers.errors import top_level_error
from services import notifications as notifications_service
from services import session_events
from services.errors import Unauthenticated
from services.records import Notification


async def notifications(info: Info) -> AsyncGenerator[Notification, None]:
    context = info.context
    account = context.account
    if account is None:
        raise top_level_error(Unauthenticated(), context.locale)
    # Leaving this block (client gone, `complete`, server shutdown) unsubscribes.
    async with context.runtime.broker.subscribe(account.id) as events:
        async for message in events:
            if session_events.ended_sessions(message) is not None:
                # For the socket's session watch, not a notification: it waits for this mark.
                context.ended_seen.append(message)
                continue
            live = notifications_service.decode(message)
            context.primed_two_factor[account.id] = live.two_factor
            yield live.notification
