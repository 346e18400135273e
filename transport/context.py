"""The GraphQL context of a request: who is signed in (bearer token or session cookie), in
which language to answer, and the cookie the sign-in resolvers issue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from resolvers.context import Context
from services import accounts
from services.i18n import locale_from_accept_language
from services.runtime import RequestMeta, Runtime
from services.status import status_of_session
from transport.session_cookie import (
    clear_session_cookie,
    cookie_token,
    set_session_cookie,
    wants_cookie,
)


@dataclass(frozen=True)
class HttpSessionCookie:
    """resolvers.context.SessionCookie over Starlette's request and response."""

    request: HTTPConnection
    response: Response | WebSocket | None
    runtime: Runtime

    def issue(self, token: str, expires_at: datetime) -> bool:
        # Over a WebSocket there is no HTTP response to carry a cookie: the token is returned.
        if not wants_cookie(self.request) or not isinstance(self.response, Response):
            return False
        settings, now = self.runtime.settings, self.runtime.clock.now()
        set_session_cookie(self.response, settings, token, expires_at, now)
        return True

    def clear(self) -> None:
        carries_cookie = cookie_token(self.request, self.runtime.settings) is not None
        if carries_cookie and isinstance(self.response, Response):
            clear_session_cookie(self.response, self.runtime.settings)


async def authenticate_connection(context: Context) -> bool:
    """WebSocket: the token of `connection_init` signs it in; without one, the upgrade
    request's Authorization header or session cookie (read by build_context) does."""
    params = context.connection_params or {}
    raw = params.get("authorization") or params.get("Authorization")
    token = bearer_token(raw) if isinstance(raw, str) else None
    if token is not None:
        context.session = await accounts.authenticate(context.runtime, token)
    if context.session is None:
        return False
    context.locale = context.session.account.locale.value
    return True


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def build_context(
    request: HTTPConnection, response: Response | WebSocket | None, runtime: Runtime
) -> Context:
    # An explicit bearer token wins over the cookie; the cookie reaches a WebSocket only
    # from an origin the server trusts (checked before the socket is accepted).
    token = bearer_token(request.headers.get("authorization"))
    from_cookie = token is None
    if from_cookie:
        token = cookie_token(request, runtime.settings)
    session = await accounts.authenticate(runtime, token) if token else None
    locale = (
        session.account.locale.value
        if session is not None
        else locale_from_accept_language(request.headers.get("accept-language"))
    )
    return Context(
        request=request,
        response=response,
        runtime=runtime,
        meta=RequestMeta(
            ip_address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        ),
        session=session,
        locale=locale,
        session_cookie=HttpSessionCookie(request, response, runtime),
        session_status=(
            status_of_session(runtime, session)
            if session is not None and not isinstance(request, WebSocket)
            else None
        ),
        session_from_cookie=from_cookie and session is not None,
    )
