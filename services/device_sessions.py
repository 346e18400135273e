"""The account's signed-in browsers and devices: listed, ended one by one or all at once."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

import ua_parser
from ua_parser import parse

from models import Account, Session
from services import access, changes, remembered_devices
from services.errors import NotFound
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind


@dataclass(frozen=True)
class DeviceSession:
    """A live session as the account sees it (named like its GraphQL type, DeviceSession)."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    device_label: str | None
    current: bool
    remembered_until: datetime | None


async def load_user_agent_rules() -> None:
    """ua-parser compiles its thousand-odd rules on first use, about a second of CPU: at
    start, on a thread, rather than on the event loop in the first sign-in's request."""
    await asyncio.to_thread(getattr, ua_parser, "parser")


@functools.lru_cache(maxsize=512)
def device_label(user_agent: str | None) -> str | None:
    """'Firefox on Windows', 'Mobile Safari on iOS'; None when the user agent says neither."""
    if not user_agent:
        return None
    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else None
    system = parsed.os.family if parsed.os else None
    if browser and system:
        return f"{browser} on {system}"
    return browser or system


async def list_for(
    rt: Runtime, viewer: Account | None, account_id: int, current_session_id: int | None
) -> list[DeviceSession]:
    """The account's live sessions, most recently used first; its owner's alone."""
    access.require_owner(viewer, account_id)
    now = rt.clock.now()
    idle = timedelta(seconds=rt.settings.session_idle_seconds)
    sessions = await Session.filter(
        account_id=account_id, revoked_at=None, expires_at__gt=now, last_seen_at__gt=now - idle
    ).order_by("-last_seen_at", "-id")
    remembered = await remembered_devices.valid_until(
        rt,
        account_id,
        [s.remembered_device_id for s in sessions if s.remembered_device_id is not None],
    )
    return [_shown(session, idle, current_session_id, remembered) for session in sessions]


async def find_own(
    rt: Runtime, viewer: Account, session_id: int, current: int | None
) -> DeviceSession | None:
    """One live session of the viewer's, for `node(id:)`."""
    return next(
        (s for s in await list_for(rt, viewer, viewer.id, current) if s.id == session_id), None
    )


def _shown(
    session: Session,
    idle: timedelta,
    current_session_id: int | None,
    remembered: dict[int, datetime],
) -> DeviceSession:
    device = session.remembered_device_id
    return DeviceSession(
        id=session.id,
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        # Whichever limit comes first, as of the last recorded use.
        expires_at=min(session.expires_at, session.last_seen_at + idle),
        ip_address=session.ip_address,
        user_agent=session.user_agent,
        device_label=device_label(session.user_agent),
        current=session.id == current_session_id,
        remembered_until=remembered.get(device) if device is not None else None,
    )


async def revoke(rt: Runtime, account: Account, meta: RequestMeta, session_id: int) -> None:
    """End one session of the account's own; NotFound for any other id."""
    async with changes.account_change(rt, account, meta) as change:
        if not await change.end_session(session_id):
            raise NotFound(field="id")
        await change.record_event(SecurityEventKind.SESSION_REVOKED)
        await change.notify(NotificationKind.SESSIONS_REVOKED, {"count": 1, "reason": "REVOKED"})


async def sign_out_everywhere(
    rt: Runtime, account: Account, meta: RequestMeta, *, keep: int | None
) -> int:
    """End every session of the account but `keep`, and forget every remembered device."""
    async with changes.account_change(rt, account, meta) as change:
        ended = await change.end_sessions(keep=keep)
        await remembered_devices.forget_all(account.id, change.connection)
        await change.record_event(SecurityEventKind.SESSION_REVOKED)
        await change.notify(
            NotificationKind.SESSIONS_REVOKED, {"count": ended, "reason": "SIGN_OUT_EVERYWHERE"}
        )
    return ended
