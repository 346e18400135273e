"""What the HTTP layer owes browsers: CORS, CSRF refusal for cookie sessions, security
headers on every response, and the origins allowed to open the WebSocket."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

from starlette._utils import get_route_path
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http.parse_content_type import parse_content_type

from services.settings import Settings, normalize_origin
from transport.session_cookie import cookie_values

logger = logging.getLogger("verrou.browser")

# The Content-Security-Policy of HTML pages: GraphiQL and the web client (webclient/). Both load
# only files the app serves itself (/static, vendored npm builds): no inline script, no CDN,
# no eval. Styles allow 'unsafe-inline' because GraphiQL's settings dialog inserts a <style>
# element; a style cannot run code. Fetch and WebSocket go to the same host ('self' covers
# ws:/wss: there), the QR code is a data: image.
HTML_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)

# What a GraphQL client in a browser sends: Apollo and urql add the two preflight headers
# to uploads; X-Verrou-Session asks for the session cookie (resolvers/session_cookie.py).
CORS_ALLOWED_HEADERS = [
    "Content-Type",
    "Authorization",
    "GraphQL-Preflight",
    "Apollo-Require-Preflight",
    "X-Verrou-Session",
    "X-Request-ID",
    "Accept-Language",
]
PREFLIGHT_HEADERS = ("graphql-preflight", "apollo-require-preflight")


class SecurityHeaders:
    """Security headers on every HTTP response, errors and 404s included. It wraps the whole
    app (see VerrouStarlette), so the 500 of an unexpected exception has them too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A WebSocket is handed on, not awaited here: no frame of this layer stays
        # suspended for the socket's life (bench/README.md, memory per socket).
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        graphql = scope["path"] == "/graphql"

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                added = [header for header in SECURITY_HEADERS if header[0] not in present]
                html = dict(headers).get(b"content-type", b"").startswith(b"text/html")
                if html and b"content-security-policy" not in present:
                    added.append((b"content-security-policy", HTML_CSP.encode()))
                # An authentication API's answers (sessions, secrets, codes) belong in no cache.
                if graphql and b"cache-control" not in present:
                    added.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*headers, *added]}
            await send(message)

        await self.app(scope, receive, secured_send)


class VerrouStarlette(Starlette):
    """Starlette whose outermost layer adds the security headers: user middleware sits
    inside ServerErrorMiddleware and never sees the 500 it sends.

    A WebSocket to one of `sockets`' paths is handed straight to its app: Starlette's own
    layers (server errors, CORS, exceptions, the router, the route) do nothing for a
    WebSocket but pass it on, yet each kept a suspended coroutine frame for as long as the
    socket was open (bench/README.md, memory per socket)."""

    def __init__(self, *args: Any, sockets: Mapping[str, ASGIApp] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.sockets = dict(sockets or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's own __call__, and a coroutine function still: that is how uvicorn
        # tells an ASGI 3 app.
        scope["app"] = self
        if scope["type"] == "websocket":
            direct = self.sockets.get(get_route_path(scope))
            if direct is not None:
                await direct(scope, receive, send)
                return
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


class CookieCsrfGuard:
    """Refuse, when the session cookie is present, the requests a page on another site can
    send without asking first (a CORS "simple request": an HTML form or a plain fetch of
    form, multipart or text content). Such a request must be JSON, or carry GraphQL-Preflight
    or Apollo-Require-Preflight: both make the browser send a preflight that CORS refuses to
    unlisted origins. SameSite=Strict already keeps the cookie off other sites' requests;
    this also covers sibling subdomains (same site) and older browsers.

    It reads every header as the app does: cookies through session_cookie.cookie_values
    (the app's own reader), the other headers as Starlette's Headers (the first of
    duplicates, which is what Strawberry parses the body by)."""

    def __init__(self, app: ASGIApp, cookie: str) -> None:
        self.app = app
        self.cookie = cookie

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return self.app(scope, receive, send)  # handed on, as SecurityHeaders does
        return self._guarded(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Present at all, even empty or twice: the guard refuses more than the app signs in.
        carries_cookie = bool(cookie_values(scope["headers"], self.cookie))
        if not carries_cookie or self._asked_first(Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        body = {
            "errors": [
                {
                    "message": (
                        "Refused: a request signed in by the session cookie must be sent as "
                        "application/json, or carry a GraphQL-Preflight header"
                    ),
                    "extensions": {"code": "CSRF_REFUSED"},
                }
            ]
        }
        response = Response(json.dumps(body), status_code=403, media_type="application/json")
        await response(scope, receive, send)

    @staticmethod
    def _asked_first(headers: Headers) -> bool:
        if any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
            return True
        # Parsed as Strawberry parses it, so the two never disagree about what the body is.
        raw = headers.get("content-type", "")
        mime, _ = parse_content_type(raw) if raw.strip() else ("", {})
        return mime.strip().lower() == "application/json"


class ListedOriginsCors(CORSMiddleware):
    """Starlette's CORS, without the Access-Control-* headers (credentials allowed, methods,
    headers) it also sends to origins it does not allow: those get none at all."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if not self.is_allowed_origin(request_headers["origin"]):
            for name in [n for n in response.headers if n.lower().startswith("access-control-")]:
                del response.headers[name]
        return response

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if origin is None or self.is_allowed_origin(origin):
            await super().send(message, send, request_headers)
            return

        async def without_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                message["headers"] = [
                    (n, v) for n, v in headers if not n.lower().startswith(b"access-control-")
                ]
            await send(message)

        await super().send(message, without_cors, request_headers)


def browser_middleware(settings: Settings, cookie: str) -> list[Middleware]:
    """CORS for CORS_ORIGINS only (credentials included), then the CSRF guard. Preflights
    from any other origin are answered 400, and no response names another origin."""
    return [
        Middleware(
            ListedOriginsCors,
            allow_origins=settings.cors_origin_list,
            allow_credentials=True,
            allow_methods=["GET", "POST"],
            allow_headers=CORS_ALLOWED_HEADERS,
            expose_headers=["X-Request-ID"],
            max_age=600,
        ),
        Middleware(CookieCsrfGuard, cookie=cookie),
    ]


def websocket_origin_allowed(origin: str | None, trusted: Iterable[str]) -> bool:
    """A WebSocket handshake is allowed without an Origin (not a browser: no ambient cookie
    to abuse) or from a trusted origin (the server's own, CORS_ORIGINS). Browsers apply no
    CORS to WebSockets: without this, any site could open one with the user's cookie."""
    if origin is None:
        return True
    if normalize_origin(origin) in set(trusted):
        return True
    logger.warning("refused a WebSocket from origin %r", origin[:200])
    return False
