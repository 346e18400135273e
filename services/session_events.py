"""Ended sessions, told to every process: their open WebSockets close.

A signed-out or revoked session is refused at once over HTTP (each request looks it up),
but a WebSocket authenticated once, when it opened. So the revocation goes out on the
account's broker channel, beside its notifications, and each process closes the sockets
of those sessions (`session_watch.SessionWatch`). A broker outage costs only that: the
session is revoked in the database all the same, and the socket stops at its next operation
or at the next check of SOCKET_SESSION_CHECK_SECONDS (services.socket_sessions).
"""

from __future__ import annotations

import json
import logging

from services.runtime import Runtime

logger = logging.getLogger("verrou.sessions")

_KEY = "sessions_ended"
EVERY_SESSION = "all"


def encode_ended(session_ids: list[int] | None) -> str:
    """None: every session of the account."""
    return json.dumps({_KEY: EVERY_SESSION if session_ids is None else session_ids})


def ended_sessions(message: str) -> set[int] | str | None:
    """The sessions a channel message ends (EVERY_SESSION for all), or None when it is not
    such a message (a notification)."""
    if not message.startswith('{"' + _KEY):
        return None
    value = json.loads(message)[_KEY]
    return EVERY_SESSION if value == EVERY_SESSION else {int(item) for item in value}


async def announce_ended(rt: Runtime, account_id: int, session_ids: list[int] | None) -> None:
    """After the revocation is committed."""
    try:
        await rt.broker.publish(account_id, encode_ended(session_ids))
    except OSError:
        logger.exception("could not announce the end of sessions of account %s", account_id)
