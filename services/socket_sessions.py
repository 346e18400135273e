"""The sessions behind open WebSockets: still live, and kept alive by the socket's own use.

A WebSocket signs in once, when it opens; an HTTP request signs in every time. These two
functions give a socket the HTTP rule: each operation it starts is a use of its session
(refused when the session has ended, recorded like a request otherwise), and a periodic
check closes the sockets whose sessions ended without a word on the broker: idle past
SESSION_IDLE_SECONDS, past the absolute lifetime, or revoked while the broker was away.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from models import Session
from services.accounts import touch
from services.runtime import Runtime

# Ids per statement: well under every database's limit on bound parameters.
_CHUNK = 500


def _live(rt: Runtime) -> dict[str, datetime | bool]:
    """The filter of a live session, as accounts.authenticate applies it to a token."""
    now = rt.clock.now()
    return {
        "revoked_at__isnull": True,
        "expires_at__gt": now,
        "last_seen_at__gt": now - timedelta(seconds=rt.settings.session_idle_seconds),
    }


async def live_among(rt: Runtime, session_ids: Collection[int]) -> set[int]:
    """The ids among `session_ids` whose sessions are still live."""
    ids = sorted(set(session_ids))
    live: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = await Session.filter(id__in=chunk, **_live(rt)).values("id")
        live.update(int(row["id"]) for row in rows)
    return live


async def use(rt: Runtime, session: Session) -> bool:
    """A use of the session by its socket: False when the session has ended, else the use is
    recorded (at most once a minute, as for HTTP requests) and True."""
    row = await Session.filter(id=session.id, **_live(rt)).first().values("last_seen_at")
    if row is None:
        return False
    # The socket's copy is as old as the socket; requests may have moved the row since.
    last_seen = row["last_seen_at"]
    if isinstance(last_seen, datetime):
        session.last_seen_at = max(session.last_seen_at, last_seen)
    await touch(rt, session)
    return True
