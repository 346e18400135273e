"""The opt-in HttpOnly session cookie, and the CSRF refusals that come with it.

The attacker here is a page on another site (or a sibling subdomain) that makes the victim's
browser send a request carrying the victim's session cookie."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server import create_app
from services.clock import FrozenClock
from tests.conftest import make_settings, start
from tests.helpers import PASSWORD, SIGN_IN, SIGN_UP, VERIFY_SIGN_IN, Api
from tests.test_recovery import AGENT, NODE, PASSPORT, customer, file_request, local_path

COOKIE = "verrou_session"
OPT_IN = {"X-Verrou-Session": "cookie"}
VIEWER = "{ viewer { email } }"
SIGN_OUT = "mutation { signOut { errors { code } } }"


async def post(
    api: Api,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request, with exactly the cookie given: the client's jar is emptied after it."""
    all_headers = dict(headers or {})
    if cookie is not None:
        all_headers["Cookie"] = f"{COOKIE}={cookie}"
    response = await api.client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
    )
    api.client.cookies.clear()
    return response


def with_cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={value}"}


def set_cookie(response: httpx.Response, name: str = COOKIE) -> Morsel[str]:
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    jar: SimpleCookie = SimpleCookie()
    jar.load(headers[0])
    assert name in jar, headers[0]
    return jar[name]


async def cookie_sign_up(api: Api, email: str = "alice@example.com") -> str:
    """Sign up with the opt-in; the session's token, read from the cookie."""
    response = await post(
        api, SIGN_UP, {"input": {"email": email, "password": PASSWORD}}, headers=OPT_IN
    )
    payload = response.json()["data"]["signUp"]
    assert payload["errors"] == []
    return set_cookie(response).value


async def viewer_email(api: Api, cookie: str) -> str | None:
    viewer = (await post(api, VIEWER, cookie=cookie)).json()["data"]["viewer"]
    return None if viewer is None else str(viewer["email"])


async def test_sign_up_with_the_opt_in_sets_an_httponly_strict_cookie_and_withholds_the_token(
    api: Api,
) -> None:
    response = await post(
        api,
        SIGN_UP,
        {"input": {"email": "alice@example.com", "password": PASSWORD}},
        headers=OPT_IN,
    )
    session = response.json()["data"]["signUp"]["session"]
    # Script on the page never sees the token: it lives only in the HttpOnly cookie.
    assert session["token"] == ""
    assert session["account"]["email"] == "alice@example.com"
    cookie = set_cookie(response)
    assert len(cookie.value) >= 40
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(14 * 24 * 3600)
    assert not cookie["secure"]  # development serves plain http
    assert cookie.value not in response.text
    # The cookie signs the browser in.
    assert await viewer_email(api, cookie.value) == "alice@example.com"


async def test_without_the_opt_in_the_token_is_returned_and_no_cookie_is_set(api: Api) -> None:
    response = await post(
        api, SIGN_UP, {"input": {"email": "alice@example.com", "password": PASSWORD}}
    )
    assert response.headers.get_list("set-cookie") == []
    token = response.json()["data"]["signUp"]["session"]["token"]
    assert len(token) >= 40
    assert (await api.data(VIEWER, token=token))["viewer"]["email"] == "alice@example.com"


async def test_an_unknown_opt_in_value_changes_nothing(api: Api) -> None:
    response = await post(
        api,
        SIGN_UP,
        {"input": {"email": "alice@example.com", "password": PASSWORD}},
        headers={"X-Verrou-Session": "bearer"},
    )
    assert response.headers.get_list("set-cookie") == []
    assert response.json()["data"]["signUp"]["session"]["token"] != ""


async def test_sign_in_without_two_factor_sets_the_cookie(api: Api) -> None:
    await api.sign_up()
    response = await post(
        api,
        SIGN_IN,
        {"input": {"email": "alice@example.com", "password": PASSWORD}},
        headers=OPT_IN,
    )
    assert response.json()["data"]["signIn"]["session"]["token"] == ""
    assert await viewer_email(api, set_cookie(response).value) == "alice@example.com"


async def test_a_wrong_password_sets_no_cookie(api: Api) -> None:
    await api.sign_up()
    response = await post(
        api,
        SIGN_IN,
        {"input": {"email": "alice@example.com", "password": "wrong " * 3}},
        headers=OPT_IN,
    )
    assert response.json()["data"]["signIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert response.headers.get_list("set-cookie") == []


async def test_with_two_factor_the_challenge_sets_no_cookie_and_verify_sign_in_does(
    api: Api,
) -> None:
    enabled = await api.enable_two_factor(await api.sign_up())
    first = await post(
        api,
        SIGN_IN,
        {"input": {"email": "alice@example.com", "password": PASSWORD}},
        headers=OPT_IN,
    )
    assert first.headers.get_list("set-cookie") == []
    challenge = first.json()["data"]["signIn"]["challenge"]["token"]
    second = await post(
        api,
        VERIFY_SIGN_IN,
        {"input": {"challengeToken": challenge, "code": api.code(enabled.secret)}},
        headers=OPT_IN,
    )
    payload = second.json()["data"]["verifySignIn"]
    assert payload["errors"] == [] and payload["session"]["token"] == ""
    assert await viewer_email(api, set_cookie(second).value) == "alice@example.com"


async def test_the_cookie_lives_as_long_as_the_session(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var", session_ttl_seconds=3600)
    async for client in start(create_app(settings, clock=clock)):
        api = Api(client, clock)
        response = await post(
            api,
            SIGN_UP,
            {"input": {"email": "alice@example.com", "password": PASSWORD}},
            headers=OPT_IN,
        )
        cookie = set_cookie(response)
        assert cookie["max-age"] == "3600"
        # And the server stops honouring it when the browser would drop it.
        clock.advance(3601)
        assert await viewer_email(api, cookie.value) is None


@pytest.fixture
async def production(db_path: Path, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    settings = make_settings(
        db_path, tmp_path / "var", environment="production", public_url="https://verrou.example"
    )
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
        async with httpx.AsyncClient(
            transport=transport, base_url="https://verrou.example"
        ) as client:
            yield Api(client, clock)


async def test_outside_development_the_cookie_is_secure_and_host_prefixed(production: Api) -> None:
    response = await production.client.post(
        "/graphql",
        json={
            "query": SIGN_UP,
            "variables": {"input": {"email": "a@example.com", "password": PASSWORD}},
        },
        headers=OPT_IN,
    )
    cookie = set_cookie(response, "__Host-verrou_session")
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/" and not cookie["domain"]
    # The client's jar sends it back over https: it signs in.
    body = (await production.client.post("/graphql", json={"query": VIEWER})).json()
    assert body == {"data": {"viewer": {"email": "a@example.com"}}}
    # The development name is not read in production.
    production.client.cookies.clear()
    other = await production.client.post(
        "/graphql", json={"query": VIEWER}, headers={"Cookie": f"{COOKIE}={cookie.value}"}
    )
    assert other.json() == {"data": {"viewer": None}}


async def test_sign_out_clears_the_cookie_and_revokes_its_session(api: Api) -> None:
    cookie = await cookie_sign_up(api)
    response = await post(api, SIGN_OUT, cookie=cookie)
    assert response.json()["data"]["signOut"]["errors"] == []
    cleared = set_cookie(response)
    assert cleared.value == "" and cleared["max-age"] == "0"
    assert cleared["httponly"] is True and cleared["path"] == "/"
    # A browser that kept the old value (or a thief who copied it) gets nothing.
    assert await viewer_email(api, cookie) is None


async def test_sign_out_with_a_dead_cookie_still_clears_it(api: Api) -> None:
    response = await post(api, SIGN_OUT, cookie="not-a-session")
    assert response.json()["data"]["signOut"]["errors"] == [{"code": "UNAUTHENTICATED"}]
    assert set_cookie(response)["max-age"] == "0"


async def test_a_bearer_token_wins_over_the_cookie_and_its_sign_out_leaves_the_cookie_alone(
    api: Api,
) -> None:
    cookie = await cookie_sign_up(api, "alice@example.com")
    bob = await api.sign_up("bob@example.com")
    both = {"Authorization": f"Bearer {bob}"}
    viewer = (await post(api, VIEWER, cookie=cookie, headers=both)).json()["data"]["viewer"]
    assert viewer == {"email": "bob@example.com"}
    response = await post(api, SIGN_OUT, cookie=cookie, headers=both)
    assert response.json()["data"]["signOut"]["errors"] == []
    assert response.headers.get_list("set-cookie") == []
    assert await viewer_email(api, cookie) == "alice@example.com"
    assert (await api.data(VIEWER, token=bob))["viewer"] is None


# ---- CSRF: what another site's page can send without a preflight --------------------------


def form_post(content_type: str | None, body: bytes) -> dict[str, Any]:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return {"content": body, "headers": headers}


SIGN_OUT_JSON = json.dumps({"query": SIGN_OUT}).encode()
SIMPLE_REQUESTS = {
    # <form method=post> with the query in a field: Strawberry would refuse it anyway, but
    # the guard says why, before anything is parsed.
    "form-urlencoded": form_post(
        "application/x-www-form-urlencoded",
        b"query=mutation+%7B+signOut+%7B+errors+%7B+code+%7D+%7D+%7D",
    ),
    # fetch(url, {method: "POST", body: JSON.stringify(...), credentials: "include"}): text/plain.
    "text/plain": form_post("text/plain;charset=UTF-8", SIGN_OUT_JSON),
    # navigator.sendBeacon / a Blob without a type: no Content-Type at all.
    "no content type": form_post(None, SIGN_OUT_JSON),
    # The one a browser sends that Strawberry does execute: a multipart form.
    "multipart": {
        "files": {"operations": (None, SIGN_OUT_JSON.decode()), "map": (None, "{}")},
    },
    # text/plain that a lenient parser might read as JSON.
    "text/plain with a json parameter": form_post("text/plain; application/json", SIGN_OUT_JSON),
}


@pytest.mark.parametrize("request_kind", list(SIMPLE_REQUESTS))
async def test_a_cross_site_simple_request_with_the_cookie_is_refused_and_runs_nothing(
    api: Api, request_kind: str
) -> None:
    cookie = await cookie_sign_up(api)
    kind = SIMPLE_REQUESTS[request_kind]
    headers = {**kind.get("headers", {}), **with_cookie(cookie)}
    response = await api.client.post("/graphql", **{**kind, "headers": headers})
    assert response.status_code == 403
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "CSRF_REFUSED"
    assert "GraphQL-Preflight" in error["message"]
    # The mutation never ran: the session is alive.
    assert await viewer_email(api, cookie) == "alice@example.com"


async def test_the_same_multipart_request_without_the_cookie_is_not_the_guards_business(
    api: Api,
) -> None:
    token = await api.sign_up()
    response = await api.client.post(
        "/graphql", **SIMPLE_REQUESTS["multipart"], headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["signOut"]["errors"] == []


@pytest.mark.parametrize("header", ["GraphQL-Preflight", "Apollo-Require-Preflight"])
async def test_a_multipart_request_with_a_preflight_header_works_with_the_cookie(
    api: Api, header: str
) -> None:
    # A custom header makes the browser ask first, and CORS answers only listed origins.
    cookie = await cookie_sign_up(api)
    response = await api.client.post(
        "/graphql", **SIMPLE_REQUESTS["multipart"], headers={header: "1", **with_cookie(cookie)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["signOut"]["errors"] == []
    assert await viewer_email(api, cookie) is None


async def test_json_with_the_cookie_works(api: Api) -> None:
    cookie = await cookie_sign_up(api)
    response = await post(api, SIGN_OUT, cookie=cookie)
    assert response.status_code == 200
    assert response.json()["data"]["signOut"]["errors"] == []


async def test_a_get_query_with_the_cookie_answers_and_a_get_mutation_runs_nothing(
    api: Api,
) -> None:
    cookie = await cookie_sign_up(api)
    query = await api.client.get("/graphql", params={"query": VIEWER}, headers=with_cookie(cookie))
    assert query.json() == {"data": {"viewer": {"email": "alice@example.com"}}}
    # <img src="/graphql?query=mutation…">: GET never mutates.
    mutation = await api.client.get(
        "/graphql", params={"query": SIGN_OUT}, headers=with_cookie(cookie)
    )
    assert mutation.status_code >= 400
    assert mutation.headers.get_list("set-cookie") == []
    assert await viewer_email(api, cookie) == "alice@example.com"


async def test_a_support_agents_cookie_opens_a_download_link(
    api: Api, app: Starlette, clock: FrozenClock
) -> None:
    await customer(api)
    await api.support_agent(app.state.runtime, AGENT)
    challenge = (await api.sign_in(AGENT))["challenge"]["token"]
    api.clock.advance(30)
    code = api.code(api.totp_secrets[AGENT])
    response = await post(
        api, VERIFY_SIGN_IN, {"input": {"challengeToken": challenge, "code": code}}, headers=OPT_IN
    )
    agent = set_cookie(response).value
    request_id = await file_request(api, "alice@example.com")
    seen = (await post(api, NODE, {"id": request_id}, cookie=agent)).json()["data"]["node"]
    url = local_path(seen["documents"][0]["downloadUrl"])
    download = await api.client.get(url, headers=with_cookie(agent))
    assert download.status_code == 200
    assert download.content == PASSPORT
    assert (await api.client.get(url)).status_code == 401
