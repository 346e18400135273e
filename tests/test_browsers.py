"""CORS, WebSocket origins and security headers, played by pages on other origins."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server import create_app
from services.clock import FrozenClock
from services.settings import Settings, SettingsError
from tests.conftest import LiveServer, make_settings, start
from tests.helpers import Api
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, subscriber
from transport.browser import HTML_CSP

APP = "https://app.example"  # listed in CORS_ORIGINS
OWN = "https://verrou.example"  # PUBLIC_URL
EVIL = "https://evil.example"
VIEWER = "{ viewer { email } }"
GRAPHQL_HEADERS = "content-type, authorization, graphql-preflight, apollo-require-preflight"


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    return make_settings(
        db_path,
        tmp_path / "var",
        public_url=OWN,
        cors_origins=f"{APP}, http://localhost:3000",
    )


def preflight(origin: str, headers: str = GRAPHQL_HEADERS) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


# ---- CORS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [APP, "http://localhost:3000"])
async def test_a_listed_origin_gets_its_preflight_answered_with_credentials(
    api: Api, origin: str
) -> None:
    headers = f"{GRAPHQL_HEADERS}, x-verrou-session"
    response = await api.client.options("/graphql", headers=preflight(origin, headers))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert set(headers.split(", ")) <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_an_unlisted_origin_gets_no_preflight(api: Api) -> None:
    response = await api.client.options("/graphql", headers=preflight(EVIL))
    assert response.status_code == 400
    # Not a word of CORS for it: no origin, no credentials, no methods, no headers.
    assert not [name for name in response.headers if name.startswith("access-control-")]


async def test_a_listed_origin_cannot_send_headers_outside_the_list(api: Api) -> None:
    response = await api.client.options("/graphql", headers=preflight(APP, "x-forwarded-for"))
    assert response.status_code == 400


async def test_responses_name_a_listed_origin_and_never_another(api: Api) -> None:
    token = await api.sign_up()
    for origin, allowed in ((APP, True), (EVIL, False)):
        response = await api.client.post(
            "/graphql",
            json={"query": VIEWER},
            headers={"Origin": origin, "Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200
        # The browser hands the answer to the page only when it is named here.
        assert (response.headers.get("access-control-allow-origin") == origin) is allowed
        assert ("access-control-allow-credentials" in response.headers) is allowed
        assert "*" not in response.headers.get("access-control-allow-origin", "")
        assert "origin" in response.headers.get("vary", "").lower()


async def test_no_origin_is_allowed_by_default(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    # Served as on 8000 (over ASGI, nothing listens): its own origin gets no CORS grant either.
    app = create_app(make_settings(db_path, tmp_path / "var", port=8000), clock=clock)
    async for client in start(app):
        for origin in (APP, "http://127.0.0.1:8000", "http://localhost:3000"):
            answer = await client.options("/graphql", headers=preflight(origin))
            assert answer.status_code == 400
            assert "access-control-allow-origin" not in answer.headers
            simple = await client.post(
                "/graphql", json={"query": VIEWER}, headers={"Origin": origin}
            )
            assert "access-control-allow-origin" not in simple.headers


def test_cors_origins_is_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://App.example:443, http://localhost:3000/")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.cors_origin_list == ["https://app.example", "http://localhost:3000"]


@pytest.mark.parametrize(
    "value", ["*", "null", "app.example", "https://app.example/path", "https://*.example"]
)
def test_a_wildcard_or_a_non_origin_refuses_to_start(value: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        Settings(_env_file=None, cors_origins=value)  # type: ignore[call-arg]


# ---- WebSocket origins ----------------------------------------------------------------------


@pytest.fixture
async def token(live: LiveServer, clock: FrozenClock) -> AsyncIterator[str]:
    async with httpx.AsyncClient(base_url=live.url) as client:
        yield await Api(client, clock).sign_up()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1"])
async def test_a_socket_from_another_origin_is_refused_before_it_is_accepted(
    live: LiveServer, token: str, protocol: str, origin: str
) -> None:
    # Even with a valid token: the page that opens it is not trusted.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            live.ws_url,
            subprotocols=[protocol],  # type: ignore[list-item]
            additional_headers={"Origin": origin, "Authorization": f"Bearer {token}"},
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_an_origin_matching_the_host_but_not_public_url_is_refused(
    live: LiveServer, token: str
) -> None:
    # Strawberry alone would accept it (Origin == Host): a DNS-rebinding page looks like this.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            live.ws_url,
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            additional_headers={"Origin": live.url},
        ):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", [OWN, APP, "HTTPS://VERROU.EXAMPLE:443"])
@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_socket_from_the_servers_own_or_a_listed_origin_is_accepted(
    live: LiveServer, token: str, origin: str, protocol: str
) -> None:
    async with subscriber(
        live.ws_url, token, protocol=protocol, headers={"Origin": origin}
    ) as client:
        assert client.connection.state.name == "OPEN"


async def test_a_socket_without_origin_is_accepted(live: LiveServer, token: str) -> None:
    # Mobile apps and scripts send no Origin and carry no ambient cookie.
    async with subscriber(live.ws_url, token) as client:
        assert client.connection.state.name == "OPEN"


async def test_the_session_cookie_signs_in_a_socket_from_the_servers_own_origin(
    live: LiveServer, clock: FrozenClock
) -> None:
    async with httpx.AsyncClient(base_url=live.url) as client:
        signed_up = await client.post(
            "/graphql",
            json={
                "query": "mutation($i: SignUpInput!) { signUp(input: $i) { errors { code } } }",
                "variables": {"i": {"email": "a@example.com", "password": "x" * 12}},
            },
            headers={"X-Verrou-Session": "cookie"},
        )
        cookie = signed_up.cookies["verrou_session"]
    headers = {"Origin": OWN, "Cookie": f"verrou_session={cookie}"}
    # No token in connection_init: the cookie of the upgrade request is the session.
    async with subscriber(live.ws_url, None, headers=headers) as client:
        assert client.connection.state.name == "OPEN"
    # The same cookie from another origin: refused before anything else.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            live.ws_url,
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            additional_headers={**headers, "Origin": EVIL},
        ):
            pass
    assert refused.value.response.status_code == 403


# ---- security headers -----------------------------------------------------------------------


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff", response.url
    assert response.headers["referrer-policy"] == "no-referrer", response.url
    assert response.headers["x-frame-options"] == "DENY", response.url


REQUESTS = {
    "graphql": ("POST", "/graphql", {"json": {"query": VIEWER}}),
    "graphql error": ("POST", "/graphql", {"json": {"query": "{ nope }"}}),
    "graphql unparsable": (
        "POST",
        "/graphql",
        {"content": b"{", "headers": {"Content-Type": "application/json"}},
    ),
    "graphiql": ("GET", "/graphql", {"headers": {"Accept": "text/html"}}),
    "healthz": ("GET", "/healthz", {}),
    "readyz": ("GET", "/readyz", {}),
    "metrics": ("GET", "/metrics", {}),
    "download without a session": ("GET", "/recovery-documents/1", {}),
    "404": ("GET", "/nowhere", {}),
    "405": ("PUT", "/graphql", {}),
    "413": ("POST", "/graphql", {"content": b"x", "headers": {"Content-Length": str(10**12)}}),
    "refused preflight": ("OPTIONS", "/graphql", {"headers": preflight(EVIL)}),
    "csrf refusal": (
        "POST",
        "/graphql",
        {"content": b"{}", "headers": {"Cookie": "verrou_session=x"}},
    ),
}


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_every_response_carries_the_security_headers(api: Api, name: str) -> None:
    method, path, options = REQUESTS[name]
    response = await api.client.request(method, path, **options)  # type: ignore[arg-type]
    assert_security_headers(response)


async def test_an_unexpected_failure_carries_them_too(app: Starlette) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    app.router.routes.append(Route("/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert_security_headers(response)


async def test_graphql_answers_are_never_cached(api: Api) -> None:
    token = await api.sign_up()
    answer = await api.client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.headers["cache-control"] == "no-store"
    get = await api.client.get("/graphql", params={"query": VIEWER})
    assert get.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/graphql", "/"], ids=["graphiql", "web client"])
async def test_html_pages_get_a_csp_that_frames_nothing_and_runs_no_stranger_script(
    api: Api, path: str
) -> None:
    page = await api.client.get(path, headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert csp == HTML_CSP
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]


@pytest.mark.parametrize("path", ["/graphql", "/"], ids=["graphiql", "web client"])
async def test_the_csp_allows_everything_the_pages_load(api: Api, path: str) -> None:
    """Every script and stylesheet of the page is the app's own, and no script is inline:
    fails when a page starts loading from elsewhere, so the CSP follows."""
    html = (await api.client.get(path, headers={"Accept": "text/html"})).text
    assert not re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html), "an inline script"
    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    sources += re.findall(r'<link[^>]*href="([^"]+)"', html)
    assert sources
    for source in sources:
        assert source.startswith("/static/"), source
        assert (await api.client.get(source)).status_code == 200, source
