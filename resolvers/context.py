"""The per-request context every resolver receives as `info.context`, and its `Info` type.

The transport builds it (transport/context.py): resolvers read what the request carried
through it, never the HTTP request itself, and set or clear the session cookie through
`session_cookie`.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import strawberry
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from resolvers.loaders import Loaders
from services.records import Account, Session
from services.runtime import RequestMeta, Runtime
from services.status import TwoFactorStatus


class SessionCookie(Protocol):
    """The opt-in HttpOnly session cookie of a browser (transport/session_cookie.py)."""

    def issue(self, token: str, expires_at: datetime) -> bool:
        """Put a new session's token in the cookie when the request opted in and its answer
        can carry a cookie; True when it did (the payload then shows no token)."""
        ...

    def clear(self) -> None:
        """Drop the cookie the request came with, if it came with one."""
        ...


@dataclass
class Context:
    request: HTTPConnection
    response: Response | WebSocket | None
    runtime: Runtime
    meta: RequestMeta
    session: Session | None
    # Of the account when signed in, else from Accept-Language.
    locale: str
    session_cookie: SessionCookie
    # WebSocket only: the `connection_init` payload (Strawberry sets it).
    connection_params: dict[str, Any] | None = None
    # Statuses a live event carried, so its `account { twoFactor }` needs no query.
    primed_two_factor: dict[int, TwoFactorStatus] = field(default_factory=dict)
    # HTTP only: the signed-in account's status, read with the session in one statement.
    # Good for the queries of this request; a mutation may change it, so mutations (and a
    # WebSocket, whose context lives as long as the connection) read it afresh.
    session_status: TwoFactorStatus | None = None
    # The session came from the HttpOnly cookie, not from a bearer token.
    session_from_cookie: bool = False
    # WebSocket: the latest sessions-ended messages its live streams have read. A stream reads
    # them in the broker's order, so one that is past such a message has handed on every
    # notification published before it (transport/session_watch.py waits for that). Made on
    # the first one (`saw_ended`): most sockets never read one, and an empty deque is 0.7 KiB.
    ended_seen: deque[str] | None = None

    def saw_ended(self, message: str) -> None:
        if self.ended_seen is None:
            self.ended_seen = deque(maxlen=32)
        self.ended_seen.append(message)

    @functools.cached_property
    def loaders(self) -> Loaders:
        """Made on first use: most requests load nothing in batches."""
        return Loaders()

    @property
    def account(self) -> Account | None:
        return self.session.account if self.session is not None else None


Info = strawberry.Info[Context, None]
