"""With introspection off (production), request errors name nothing of the schema (issue 14,
item 9): no type, field, argument, input field or enum value, whatever the document or the
variables got wrong. Development keeps graphql-core's helpful text."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from schema.build import build_schema
from server import create_app
from services.clock import FrozenClock
from services.settings import Settings
from tests.conftest import LiveServer, make_settings, start
from tests.helpers import SIGN_IN, SIGN_UP, Api
from tests.ws_client import subscriber

SIGN_IN_INPUT = {"email": "a@example.com", "password": "correct horse battery staple"}

# id -> (document, variables, operation name). An unknown operationName is Strawberry's 400
# in plain text, which quotes the client's name only.
INVALID: dict[str, tuple[str, dict[str, Any] | None, str | None]] = {
    "unknown field": ("{ viewer { emial } }", None, None),
    "unknown root field": ("mutation { signInNow { errors { code } } }", None, None),
    "unknown argument": ("{ viewer { notifications(frist: 1) { totalCount } } }", None, None),
    "missing argument": ("mutation { signIn { errors { code } } }", None, None),
    "missing input field": (
        'mutation { signIn(input: {email: "a@example.com"}) { errors { code } } }',
        None,
        None,
    ),
    "unknown input field": (
        'mutation { signIn(input: {email: "a@b.fr", password: "x", pin: 1}) { errors { code } } }',
        None,
        None,
    ),
    "wrong literal type": ("mutation { signIn(input: 5) { errors { code } } }", None, None),
    "wrong scalar literal": (
        '{ viewer { notifications(first: "ten") { totalCount } } }',
        None,
        None,
    ),
    "wrong enum literal": (
        'mutation { signUp(input: {email: "a@b.fr", password: "x", locale: DE}) '
        "{ errors { code } } }",
        None,
        None,
    ),
    "unknown type": (
        "query ($f: Itn) { viewer { notifications(first: $f) { totalCount } } }",
        None,
        None,
    ),
    "variable in the wrong position": (
        "query ($f: String) { viewer { notifications(first: $f) { totalCount } } }",
        None,
        None,
    ),
    "no selection on an object": ("{ viewer }", None, None),
    "selection on a scalar": ("{ viewer { email { length } } }", None, None),
    "fragment on an unknown type": ("fragment F on Person { name } { ...F }", None, None),
    "fragment that cannot apply": (
        "{ viewer { ... on Mutation { signOut { errors { code } } } } }",
        None,
        None,
    ),
    "bad variable: missing field": (SIGN_IN, {"input": {"email": "a@example.com"}}, None),
    "bad variable: wrong shape": (SIGN_IN, {"input": "a@example.com"}, None),
    "bad variable: unknown field": (SIGN_IN, {"input": {**SIGN_IN_INPUT, "pin": "1"}}, None),
    "bad variable: wrong enum value": (
        SIGN_UP,
        {"input": {"email": "a@b.fr", "password": "x" * 12, "locale": "DE"}},
        None,
    ),
    "bad variable: null for a required one": (SIGN_IN, {"input": None}, None),
    "introspection": ("{ __schema { types { name } } }", None, None),
    "introspection of a type": ('{ __type(name: "SignInInput") { name } }', None, None),
}


def schema_names() -> set[str]:
    """Every name the schema defines: types (built-in scalars included), fields, arguments,
    input fields and enum values."""
    names: set[str] = set()
    for type_name, named in build_schema()._schema.type_map.items():  # type: ignore[attr-defined]
        if type_name.startswith("__"):
            continue
        names.add(type_name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                names.add(field_name)
                names.update(field.args)
        elif isinstance(named, GraphQLInputObjectType):
            names.update(named.fields)
        elif isinstance(named, GraphQLEnumType):
            names.update(named.values)
    return names


SCHEMA_NAMES = schema_names()
WORD = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def strings(value: object) -> Iterator[str]:
    """The string values of a JSON document (its keys are the response format's own)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def names_in(body: object) -> set[str]:
    return {word for text in strings(body) for word in WORD.findall(text)} & SCHEMA_NAMES


def request(case: str) -> dict[str, Any]:
    query, variables, operation_name = INVALID[case]
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    return body


def production_settings(db_path: Path, var_dir: Path) -> Settings:
    return make_settings(
        db_path, var_dir, environment="production", public_url="https://verrou.example"
    )


@pytest.fixture
async def production(db_path: Path, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    async for client in start(create_app(production_settings(db_path, tmp_path), clock=clock)):
        yield Api(client, clock)


def test_the_check_knows_the_schema() -> None:
    """Guards the test itself: the names it looks for are there, and its own generic
    wording would pass it."""
    assert {"signIn", "SignInInput", "password", "String", "EN", "viewer"} <= SCHEMA_NAMES
    assert "GRAPHQL_VALIDATION_FAILED" not in SCHEMA_NAMES


@pytest.mark.parametrize("case", list(INVALID))
async def test_production_request_errors_name_nothing_of_the_schema(
    production: Api, case: str
) -> None:
    response = await production.client.post("/graphql", json=request(case))
    assert response.status_code in (200, 400), response.text
    body = response.json()
    assert body.get("data") is None
    assert body["errors"], body
    assert names_in(body) == set(), body
    for error in body["errors"]:
        assert error["extensions"]["code"] in ("GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT")


# Development allows introspection: those two are errors in production only.
@pytest.mark.parametrize("case", [case for case in INVALID if not case.startswith("introspection")])
async def test_production_keeps_the_code_development_gives(
    db_path: Path, tmp_path: Path, clock: FrozenClock, case: str
) -> None:
    """The same request in development and in production: same status, same codes, same
    locations; only the message changes (development names what is wrong)."""
    answers: list[httpx.Response] = []
    # One app at a time: Tortoise's connections are the process's.
    for settings in (
        make_settings(db_path, tmp_path / "dev"),
        production_settings(db_path, tmp_path / "prod"),
    ):
        async for client in start(create_app(settings, clock=clock)):
            answers.append(await client.post("/graphql", json=request(case)))
    developed, produced = answers
    assert developed.status_code == produced.status_code

    def shape(body: dict[str, Any]) -> list[tuple[str, Any]]:
        return [(e["extensions"]["code"], e.get("locations")) for e in body["errors"]]

    assert shape(developed.json()) == shape(produced.json())
    # What the generic message hides: development names it.
    assert names_in(developed.json()), developed.text


async def test_graphql_response_json_gets_the_same_generic_errors(production: Api) -> None:
    response = await production.client.post(
        "/graphql",
        json=request("missing argument"),
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert names_in(response.json()) == set(), response.text


async def test_a_get_request_gets_the_same_generic_errors(production: Api) -> None:
    response = await production.client.get(
        "/graphql", params={"query": "{ viewer { emial } }"}, headers={"Accept": "application/json"}
    )
    assert response.status_code in (200, 400)
    assert names_in(response.json()) == set(), response.text


async def test_a_valid_request_and_its_payload_errors_are_untouched(production: Api) -> None:
    """Only request errors change: a payload error still says what is wrong."""
    body = await production.gql(SIGN_IN, {"input": SIGN_IN_INPUT})
    errors = body["data"]["signIn"]["errors"]
    assert [error["code"] for error in errors] == ["INVALID_CREDENTIALS"]
    assert errors[0]["message"]


async def test_parse_errors_keep_their_text(production: Api) -> None:
    """A syntax error quotes only the client's own document."""
    body = (await production.client.post("/graphql", json={"query": "{ viewer { email }"})).json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert body["errors"][0]["message"].startswith("Syntax Error")


@pytest.fixture
async def production_live(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[LiveServer]:
    """A production app behind a real uvicorn (the `live` fixture's, in production)."""
    settings = production_settings(db_path, tmp_path)
    app = create_app(settings, clock=clock)
    port = settings.port
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield LiveServer(app=app, url=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await serving


@pytest.mark.parametrize(
    "document",
    [
        "subscription { notifications { idd } }",
        "subscription { notificationz { id } }",
        "subscription ($x: Strng) { notifications { id } }",
    ],
)
async def test_over_a_websocket_subscription_errors_name_nothing(
    production_live: LiveServer, clock: FrozenClock, document: str
) -> None:
    async with httpx.AsyncClient(base_url=production_live.url) as client:
        token = await Api(client, clock).sign_up()
    async with subscriber(production_live.ws_url, token, query=document) as socket:
        message = await socket.receive()
    assert message["type"] == "error", message
    assert names_in(message["payload"]) == set(), json.dumps(message)
