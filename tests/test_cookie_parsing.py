"""The CSRF guard and the app read a request's cookies the same way (issue 14, item 5).

The attack: two Cookie headers, the session cookie in the first. The guard read only the last
(no session cookie: not its business), the app every one (signed in): a cookie-signed
multipart `signOut`, which a page on another site can send, went through. Each header shape
below is checked both ways: what the app reads (a JSON request, which the guard lets
through) and what the guard does with the simple requests a browser sends cross-site.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from services.clock import FrozenClock
from tests.conftest import LiveServer
from tests.helpers import Api

COOKIE = "verrou_session"
VIEWER = json.dumps({"query": "{ viewer { email } }"})
SIGN_OUT = json.dumps({"query": "mutation { signOut { errors { code } } }"})
BOUNDARY = "verrou-test-boundary"

Headers = list[tuple[str, str]]


def multipart(operations: str) -> bytes:
    """A GraphQL multipart request (no file): what an HTML form with enctype=multipart sends."""
    parts = [("operations", operations), ("map", "{}")]
    body = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in parts
    )
    return f"{body}--{BOUNDARY}--\r\n".encode()


# What a page on another site can POST without a preflight, each as (content type, body).
SIMPLE_REQUESTS: dict[str, tuple[str, bytes]] = {
    "multipart": (f"multipart/form-data; boundary={BOUNDARY}", multipart(SIGN_OUT)),
    "form": (
        "application/x-www-form-urlencoded",
        b"query=mutation+%7B+signOut+%7B+errors+%7B+code+%7D+%7D+%7D",
    ),
    "text": ("text/plain;charset=UTF-8", SIGN_OUT.encode()),
}


# Shape -> (the Cookie headers for a token, whether the app signs the request in by them).
SHAPES: dict[str, tuple[Callable[[str], Headers], bool]] = {
    "two headers, the cookie in the first": (
        lambda t: [("cookie", f"{COOKIE}={t}"), ("cookie", "theme=dark")],
        True,
    ),
    "two headers, the cookie in the last": (
        lambda t: [("cookie", "theme=dark"), ("cookie", f"{COOKIE}={t}")],
        True,
    ),
    "three headers, an empty one first": (
        lambda t: [("cookie", ""), ("cookie", "a=b; c=d"), ("cookie", f"{COOKIE}={t}")],
        True,
    ),
    "odd spacing and stray separators": (
        lambda t: [("cookie", f"  theme=dark ;;{COOKIE} =  {t}  ;")],
        True,
    ),
    "no space after the separator": (lambda t: [("cookie", f"theme=dark;{COOKIE}={t}")], True),
    "a quoted value": (lambda t: [("cookie", f'{COOKIE}="{t}"')], True),
    "the same value twice": (
        lambda t: [("cookie", f"{COOKIE}={t}"), ("cookie", f"{COOKIE}={t}")],
        True,
    ),
    "an empty one beside the real one": (
        lambda t: [("cookie", f"{COOKIE}="), ("cookie", f"{COOKIE}={t}")],
        True,
    ),
    # Cookie names are case-sensitive: not the session cookie, for the app or the guard.
    "the name in capitals": (lambda t: [("cookie", f"{COOKIE.upper()}={t}")], False),
    "the name in mixed case": (lambda t: [("cookie", f"Verrou_Session={t}")], False),
    # A planted cookie beside the real one: neither signs in (and the guard still refuses).
    "two different values": (
        lambda t: [("cookie", f"{COOKIE}={t}"), ("cookie", f"{COOKIE}=planted-value")],
        False,
    ),
    "two different values in one header": (
        lambda t: [("cookie", f"{COOKIE}=planted-value; {COOKIE}={t}")],
        False,
    ),
}


def names_the_cookie(headers: Headers) -> bool:
    """The guard's business: the exact cookie name appears in some Cookie header."""
    return any(
        pair.split("=", 1)[0].strip() == COOKIE
        for name, value in headers
        if name == "cookie"
        for pair in value.split(";")
        if "=" in pair
    )


async def still_signed_in(api: Api, token: str) -> bool:
    return (await api.data("{ viewer { email } }", token=token))["viewer"] is not None


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_the_app_reads_each_cookie_shape_as_expected(api: Api, shape: str) -> None:
    """The control: JSON passes the guard, so this is what the app itself makes of it."""
    token = await api.sign_up()
    build, signs_in = SHAPES[shape]
    response = await api.client.post(
        "/graphql",
        content=VIEWER,
        headers=[("content-type", "application/json"), *build(token)],
    )
    assert response.status_code == 200, response.text
    expected = {"email": "alice@example.com"} if signs_in else None
    assert response.json() == {"data": {"viewer": expected}}


@pytest.mark.parametrize("kind", list(SIMPLE_REQUESTS))
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_a_simple_request_the_app_would_sign_in_is_refused_by_the_guard(
    api: Api, shape: str, kind: str
) -> None:
    token = await api.sign_up()
    build, signs_in = SHAPES[shape]
    cookies = build(token)
    content_type, body = SIMPLE_REQUESTS[kind]
    response = await api.client.post(
        "/graphql", content=body, headers=[("content-type", content_type), *cookies]
    )
    if signs_in or names_the_cookie(cookies):
        assert response.status_code == 403, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_REFUSED"
    else:
        # Not signed in by any cookie: whatever Strawberry answers, it is not the guard.
        assert response.status_code != 403, response.text
    assert await still_signed_in(api, token)


@pytest.mark.parametrize(
    "content_types",
    [
        [f"multipart/form-data; boundary={BOUNDARY}", "application/json"],
        ["application/json", f"multipart/form-data; boundary={BOUNDARY}"],
        [f"multipart/form-data; boundary={BOUNDARY}", "application/json; charset=utf-8"],
    ],
    ids=["multipart first", "json first", "multipart first, json with charset"],
)
async def test_two_content_types_are_read_as_the_app_reads_them(
    api: Api, content_types: list[str]
) -> None:
    """The same class of bug with Content-Type: the app parses the body by the first."""
    token = await api.sign_up()
    headers = [
        *(("content-type", value) for value in content_types),
        ("cookie", f"{COOKIE}={token}"),
    ]
    response = await api.client.post("/graphql", content=multipart(SIGN_OUT), headers=headers)
    if content_types[0].startswith("multipart/"):
        assert response.status_code == 403, response.text
    else:
        assert response.status_code == 400, response.text  # a multipart body is not JSON
    assert await still_signed_in(api, token)


async def test_a_preflighted_multipart_request_is_signed_in_by_either_cookie_header(
    api: Api,
) -> None:
    """The guard's pass (a preflight header) still lets the app use the cookie it reads."""
    token = await api.sign_up()
    content_type, body = SIMPLE_REQUESTS["multipart"]
    response = await api.client.post(
        "/graphql",
        content=body,
        headers=[
            ("content-type", content_type),
            ("graphql-preflight", "1"),
            ("cookie", "theme=dark"),
            ("cookie", f"{COOKIE}={token}"),
        ],
    )
    assert response.json() == {"data": {"signOut": {"errors": []}}}
    assert not await still_signed_in(api, token)


@pytest.mark.parametrize("cookie_first", [True, False], ids=["cookie first", "cookie last"])
async def test_over_a_socket_two_cookie_headers_cannot_carry_a_multipart_sign_out(
    live: LiveServer, clock: FrozenClock, cookie_first: bool
) -> None:
    """The reported attack, through uvicorn's own header parsing."""
    async with httpx.AsyncClient(base_url=live.url) as client:
        api = Api(client, clock)
        token = await api.sign_up()
        cookies = [("cookie", f"{COOKIE}={token}"), ("cookie", "theme=dark")]
        content_type, body = SIMPLE_REQUESTS["multipart"]
        response = await client.post(
            "/graphql",
            content=body,
            headers=[("content-type", content_type), *(cookies if cookie_first else cookies[::-1])],
        )
        assert response.status_code == 403, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_REFUSED"
        assert await still_signed_in(api, token)
