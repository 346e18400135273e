"""The opt-in HttpOnly session cookie of browser SPAs.

A browser app that sends `X-Verrou-Session: cookie` with signUp, signIn or verifySignIn gets
its session as a cookie instead of a token it would keep in JavaScript: script injected into
the page (XSS) can then use the session while the page is open, but cannot steal it. The
payload's `session.token` is then an empty string: a token JavaScript can read would undo
exactly that. The opt-in is a request header, not an argument, because a cross-site HTML form
cannot send one (a custom header makes the browser ask first, and CORS says no).

Outside development the cookie is `Secure` and named with the `__Host-` prefix, which browsers
accept only from HTTPS, with Path=/ and no Domain: a sibling subdomain cannot plant or
overwrite it. `SameSite=Strict` keeps it off every request another site starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from starlette.requests import HTTPConnection
from starlette.responses import Response

from services.settings import Settings

logger = logging.getLogger("verrou.browser")

OPT_IN_HEADER = "x-verrou-session"
OPT_IN_VALUE = "cookie"


def cookie_name(settings: Settings) -> str:
    return "verrou_session" if settings.is_development else "__Host-verrou_session"


def cookie_values(headers: Iterable[tuple[bytes, bytes]], name: str) -> list[str]:
    """Every value a request gives the cookie `name`, in order, across all its Cookie headers.

    The CSRF guard (transport/browser.py) and the app (cookie_token) both read cookies here
    and nowhere else: when each parsed them its own way, two Cookie headers let the guard see
    none in the last while the app signed the request in by the first (Starlette reads them
    all, a later value of a name replacing an earlier one). HTTP/1.1 clients send
    one Cookie header; HTTP/2 splits cookies over several (RFC 9113, 8.2.3); a forged request
    may send anything, so all are read. Names are case-sensitive (RFC 6265), spaces around
    names and values do not count, and a value in double quotes is the value inside them."""
    values: list[str] = []
    for key, raw in headers:
        if key.lower() != b"cookie":
            continue
        for pair in raw.decode("latin-1").split(";"):
            pair_name, has_value, value = pair.partition("=")
            if has_value and pair_name.strip() == name:
                values.append(_unquote(value.strip()))
    return values


def _unquote(value: str) -> str:
    quoted = len(value) >= 2 and value[0] == value[-1] == '"'
    return value[1:-1] if quoted else value


def cookie_token(connection: HTTPConnection, settings: Settings) -> str | None:
    """The session token of the request's cookie. Two different values (a cookie planted
    beside the real one, a forged duplicate) sign nobody in: which one a browser lists
    first depends on paths and ages, and guessing would let the planted one win."""
    values = set(cookie_values(connection.scope["headers"], cookie_name(settings)))
    values.discard("")
    if len(values) > 1:
        logger.warning("a request carried %d different session cookies: none used", len(values))
        return None
    return values.pop() if values else None


def wants_cookie(connection: HTTPConnection) -> bool:
    return connection.headers.get(OPT_IN_HEADER, "").strip().lower() == OPT_IN_VALUE


def set_session_cookie(
    response: Response, settings: Settings, token: str, expires_at: datetime, now: datetime
) -> None:
    response.set_cookie(
        cookie_name(settings),
        token,
        # Lives exactly as long as the session: a browser drops it when the server would
        # refuse it anyway.
        max_age=max(0, int((expires_at - now).total_seconds())),
        path="/",
        secure=not settings.is_development,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    # Same name, path and flags as when set, or a browser keeps the old one.
    response.set_cookie(
        cookie_name(settings),
        "",
        max_age=0,
        expires=0,
        path="/",
        secure=not settings.is_development,
        httponly=True,
        samesite="strict",
    )
