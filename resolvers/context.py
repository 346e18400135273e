"""The per-request context every resolver receives as `info.context`."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from models import Account, Session
from resolvers.loaders import Loaders
from services import accounts
from services.i18n import locale_from_accept_language
from services.runtime import RequestMeta, Runtime
from services.status import TwoFactorStatus, status_of_session
from transport.session_cookie import cookie_token


@dataclass
class Context:
    request: HTTPConnection
    response: Response | WebSocket | None
    runtime: Runtime
    meta: RequestMeta
    session: Session | None
    # Of the account when signed in, else from Accept-Language.
    locale: str
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

    @functools.cached_property
    def loaders(self) -> Loaders:
        """Made on first use: most requests load nothing in batches."""
        return Loaders()

    @property
    def account(self) -> Account | None:
        return self.session.account if self.session is not None else None


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
        session_status=(
            status_of_session(runtime, session)
            if session is not None and not isinstance(request, WebSocket)
            else None
        ),
        session_from_cookie=from_cookie and session is not None,
    )
