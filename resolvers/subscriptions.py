"""The live notifications of the signed-in account."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from resolvers.context import Info
from resolvers.errors import raised_top_level, top_level_error
from services import notifications as notifications_service
from services import session_events
from services.errors import Unauthenticated
from services.records import Notification


async def notifications(info: Info, after: str | None = None) -> AsyncGenerator[Notification, None]:
    context = info.context
    account = context.account
    if account is None:
        raise top_level_error(Unauthenticated(), context.locale)
    with raised_top_level(info):
        boundary = None if after is None else notifications_service.replay_boundary(after)
    # Leaving this block (client gone, `complete`, server shutdown) unsubscribes.
    async with context.runtime.broker.subscribe(account.id) as events:
        # Subscribed before the replay is read: a notification committed meanwhile is either
        # in the replay or on its way live (or both, and then sent once), never neither.
        replayed: set[int] = set()
        if boundary is not None:
            async for missed in notifications_service.newer_than(account.id, boundary):
                replayed.add(missed.id)
                yield missed
        async for message in events:
            if session_events.ended_sessions(message) is not None:
                # For the socket's session watch, not a notification: it waits for this mark.
                context.saw_ended(message)
                continue
            live = notifications_service.decode(message)
            if live.notification.id in replayed:
                replayed.discard(live.notification.id)  # it comes live once at most
                continue
            context.primed_two_factor[account.id] = live.two_factor
            yield live.notification
