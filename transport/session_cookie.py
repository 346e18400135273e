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

from datetime import datetime

from starlette.requests import HTTPConnection
from starlette.responses import Response

from services.settings import Settings

OPT_IN_HEADER = "x-verrou-session"
OPT_IN_VALUE = "cookie"


def cookie_name(settings: Settings) -> str:
    return "verrou_session" if settings.is_development else "__Host-verrou_session"


def cookie_token(connection: HTTPConnection, settings: Settings) -> str | None:
    return connection.cookies.get(cookie_name(settings)) or None


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
