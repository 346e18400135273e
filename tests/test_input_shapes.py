"""Every shape of client input gets a 4xx or a contract error, over a real uvicorn socket.

Issue 14, item 1: never a 5xx, never the masked "Unexpected error.", never a traceback in
the server's log, and on a WebSocket a close frame with a 44xx code or a protocol error
message rather than a dropped socket. First the shapes the hostile tester found, one test
each; then property tests over the shapes of HTTP bodies, GET query strings, multipart
parts and both WebSocket protocols' messages.

`make fuzz` runs the property tests again with INPUT_SHAPES_EXAMPLES examples each (the
Upload fields schemathesis cannot generate); the suite keeps a modest number.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from schema.enums import ErrorCode
from services.clock import FrozenClock
from tests.conftest import LiveServer
from tests.fuzz.schemathesis_hooks import CONTRACT_CODES, MASKED, REQUEST_CODES, problems
from tests.helpers import Api
from tests.ws_client import LEGACY_WS, TRANSPORT_WS

EXAMPLES = int(os.environ.get("INPUT_SHAPES_EXAMPLES", "60"))
# One live server per test, shared by its examples: they only send what a client could.
SHAPES = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

REQUEST_RECOVERY = """
mutation R($input: RequestTwoFactorRecoveryInput!) {
  requestTwoFactorRecovery(input: $input) { request { status } errors { code field } }
}
"""
FINISH_KEY = """
mutation K($input: FinishSecurityKeyRegistrationInput!) {
  finishSecurityKeyRegistration(input: $input) { errors { code field } }
}
"""
SUBSCRIPTION = "subscription { notifications { id kind } }"
DOCUMENTS = [
    "{ __typename }",
    "query Q { __typename } query R { __typename }",
    SUBSCRIPTION,
    "mutation M($input: SignInInput!) { signIn(input: $input) { errors { code } } }",
    "query($x: Int) { __typename }",
    "{ twoFactorStatus { enabled } }",
    REQUEST_RECOVERY,
    FINISH_KEY,
    "{",
    "",
]

JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_ANY = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
DOCUMENT = st.sampled_from(DOCUMENTS) | st.text(max_size=40)
# Objects shaped like a GraphQL request, each entry of any type: the likeliest mistakes.
REQUEST_OBJECT = st.fixed_dictionaries(
    {},
    optional={
        "query": DOCUMENT | JSON_ANY,
        "variables": JSON_ANY | st.dictionaries(st.sampled_from(["input", "x"]), JSON_ANY),
        "operationName": st.sampled_from(["Q", "R", "M"]) | JSON_ANY,
        "extensions": JSON_ANY,
    },
)
ANY_BODY = REQUEST_OBJECT | JSON_ANY


# ---------------------------------------------------------------- what "clean" means


class ServerLog:
    """What the server logged since the last look: no error, no traceback."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO)
        self.caplog = caplog
        self.seen = 0

    def assert_clean(self) -> None:
        records = self.caplog.records[self.seen :]
        self.seen = len(self.caplog.records)
        bad = [
            f"{r.name}: {r.getMessage()}"
            for r in records
            if r.levelno >= logging.ERROR or r.exc_info or "Traceback" in r.getMessage()
        ]
        assert not bad, bad


def assert_clean_http(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    assert problems(response.status_code, response.content) == [], response.text


def assert_clean_errors(errors: object) -> None:
    """A WebSocket message's errors: each with a documented code, none masked."""
    for error in errors if isinstance(errors, list) else [errors]:
        assert isinstance(error, dict), error
        assert error.get("message") != MASKED, error
        assert "Traceback" not in str(error.get("message")), error


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> ServerLog:
    return ServerLog(caplog)


@pytest.fixture
async def client(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"user-agent": "verrou-tests/1.0"}
    async with httpx.AsyncClient(base_url=live.url, headers=headers, timeout=10) as http:
        yield http


@pytest.fixture
async def token(client: httpx.AsyncClient, clock: FrozenClock) -> str:
    return await Api(client, clock).sign_up()


@pytest.fixture
async def challenge(client: httpx.AsyncClient, clock: FrozenClock) -> str:
    """A live sign-in challenge: the one input requestTwoFactorRecovery reads its files for."""
    api = Api(client, clock)
    await api.enable_two_factor(await api.sign_up("holder@example.com"))
    return await api.challenge("holder@example.com")


# ---------------------------------------------------------------- the shapes that were found


@pytest.mark.parametrize("body", ["1", '"text"', "true", "null", "  42 ", "-0.5e3", ""])
async def test_a_json_body_that_is_not_an_object_is_400(
    client: httpx.AsyncClient, log: ServerLog, body: str
) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    log.assert_clean()


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("accept", [None, GRAPHQL_RESPONSE_JSON])
async def test_a_subscription_over_http_is_a_request_error(
    client: httpx.AsyncClient, token: str, log: ServerLog, method: str, accept: str | None
) -> None:
    headers = {"authorization": f"Bearer {token}", **({"accept": accept} if accept else {})}
    if method == "GET":
        response = await client.get("/graphql", params={"query": SUBSCRIPTION}, headers=headers)
    else:
        response = await client.post("/graphql", json={"query": SUBSCRIPTION}, headers=headers)
    assert response.status_code == (400 if accept else 200), response.text
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "WebSocket" in body["errors"][0]["message"]
    assert "path" not in body["errors"][0]
    log.assert_clean()


async def test_a_query_and_a_mutation_over_http_still_run(
    client: httpx.AsyncClient, token: str
) -> None:
    """The control of the test above: only subscriptions are refused."""
    headers = {"authorization": f"Bearer {token}"}
    got = await client.get("/graphql", params={"query": "{ __typename }"}, headers=headers)
    assert got.json() == {"data": {"__typename": "Query"}}
    mutation = "mutation { signOut { errors { code } } }"
    posted = await client.post("/graphql", json={"query": mutation}, headers=headers)
    assert posted.json() == {"data": {"signOut": {"errors": []}}}, posted.text
    refused = await client.get("/graphql", params={"query": mutation}, headers=headers)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "POST"


def recovery(challenge: str, document: object) -> dict[str, Any]:
    variables = {"input": {"challengeToken": challenge, "identityDocument": document}}
    return {"query": REQUEST_RECOVERY, "variables": variables}


@pytest.mark.parametrize("value", ["not a file", 12, {"name": "id.pdf"}, ["a"], True])
async def test_a_value_where_an_upload_is_expected_is_bad_user_input(
    client: httpx.AsyncClient, challenge: str, log: ServerLog, value: object
) -> None:
    response = await client.post("/graphql", json=recovery(challenge, value))
    assert_clean_http(response)
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], errors
    assert "multipart" in errors[0]["message"]
    log.assert_clean()


async def test_an_upload_written_in_the_document_is_a_validation_error(
    client: httpx.AsyncClient, challenge: str, log: ServerLog
) -> None:
    query = (
        "mutation { requestTwoFactorRecovery(input: "
        f'{{challengeToken: "{challenge}", identityDocument: "x"}}) {{ errors {{ code }} }} }}'
    )
    response = await client.post("/graphql", json={"query": query})
    assert_clean_http(response)
    codes = [e["extensions"]["code"] for e in response.json()["errors"]]
    assert codes == ["GRAPHQL_VALIDATION_FAILED"], response.text
    log.assert_clean()


@pytest.mark.parametrize(
    ("query", "path", "variables"),
    [
        (REQUEST_RECOVERY, "variables.input.challengeToken", {"input": {"challengeToken": None}}),
        (FINISH_KEY, "variables.input.credential", {"input": {"credential": None, "name": "k"}}),
        (
            FINISH_KEY,
            "variables.input.credential.response",
            {"input": {"credential": {"id": "x", "response": None}, "name": "k"}},
        ),
    ],
)
async def test_a_file_where_a_value_is_expected_is_bad_user_input(
    client: httpx.AsyncClient,
    token: str,
    log: ServerLog,
    query: str,
    path: str,
    variables: dict[str, Any],
) -> None:
    if query == REQUEST_RECOVERY:
        variables["input"]["identityDocument"] = None
    response = await client.post(
        "/graphql",
        headers={"authorization": f"Bearer {token}"},
        data={
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps({"0": [path]}),
        },
        files={"0": ("id.pdf", b"%PDF-1.4 a document", "application/pdf")},
    )
    assert_clean_http(response)
    errors = response.json()["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}, errors
    # The file's own field is refused (the Upload left null is refused too, on its own).
    assert any(path.rsplit(".", 1)[-1] in e["message"] for e in errors), errors
    log.assert_clean()


async def test_a_file_where_the_upload_is_expected_still_reaches_the_resolver(
    client: httpx.AsyncClient, challenge: str, log: ServerLog
) -> None:
    """The control of the refusals above."""
    response = await client.post(
        "/graphql",
        data={
            "operations": json.dumps(recovery(challenge, None)),
            "map": json.dumps({"0": ["variables.input.identityDocument"]}),
        },
        files={"0": ("id.pdf", b"%PDF-1.4 a document", "application/pdf")},
    )
    payload = response.json()["data"]["requestTwoFactorRecovery"]
    assert payload == {"request": {"status": "PENDING"}, "errors": []}, response.text
    log.assert_clean()


async def close_code_or_answers(
    socket: ClientConnection,
    answered: Callable[[dict[str, Any]], bool],
    within: float = 5.0,
) -> tuple[list[dict[str, Any]], int | None]:
    """Every message until one is `answered` (code None) or the socket closes (its code).
    A close without a close frame, or a silent open socket, fails here."""
    messages: list[dict[str, Any]] = []
    try:
        while True:
            messages.append(json.loads(await asyncio.wait_for(socket.recv(), within)))
            if answered(messages[-1]):
                return messages, None
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, f"dropped without a close frame after {messages}"
        return messages, closed.rcvd.code


@pytest.mark.parametrize(
    "start",
    [
        {"type": "start"},
        {"type": "start", "id": "1"},
        {"type": "start", "id": "1", "payload": None},
        {"type": "start", "id": "1", "payload": {}},
        {"type": "start", "id": "1", "payload": {"query": 1}},
        {"type": "start", "id": "1", "payload": {"query": SUBSCRIPTION, "variables": []}},
        {"type": "start", "id": 1, "payload": {"query": SUBSCRIPTION}},
        {"type": "start", "id": ["1"], "payload": {"query": SUBSCRIPTION}},
    ],
)
async def test_an_incomplete_legacy_start_is_refused_with_a_close_code_or_an_error(
    live: LiveServer, token: str, log: ServerLog, start: dict[str, Any]
) -> None:
    async with connect(live.ws_url, subprotocols=[LEGACY_WS]) as socket:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await socket.send(json.dumps(init))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps(start))
        messages, code = await close_code_or_answers(socket, lambda m: m["type"] == "error")
    if isinstance(start.get("id"), str):
        # The operation fails and the socket stays.
        assert code is None, messages
        assert [(m["type"], m["id"]) for m in messages if m["type"] != "ka"] == [("error", "1")]
    else:
        assert code == 4400, messages
    log.assert_clean()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize(
    "query",
    ["{ __typename }", "mutation { signOut { errors { code } } }", "{", "", "subscription { x }"],
)
async def test_every_operation_over_either_protocol_is_answered_for_its_id(
    live: LiveServer, token: str, log: ServerLog, protocol: str, query: str
) -> None:
    """Legacy graphql-ws runs subscriptions only; what else it is given is an `error`. A
    document that does not parse was an exception in the socket's task, never answered."""
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    async with connect(live.ws_url, subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await socket.send(json.dumps(init))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"type": kind, "id": "1", "payload": {"query": query}}))
        messages, code = await close_code_or_answers(
            socket, lambda m: m.get("id") == "1" and m["type"] in ("complete", "error")
        )
    # graphql-transport-ws closes with 4400 on a document that does not parse (Strawberry's
    # reading of the protocol); every other operation gets its answer on an open socket.
    unparsable = protocol == TRANSPORT_WS and query == "{"
    assert code == (4400 if unparsable else None), messages
    for message in messages:
        if message["type"] in ("next", "data"):
            assert_clean_errors(message["payload"].get("errors", []))
        elif message["type"] == "error":
            assert_clean_errors(message["payload"])
    log.assert_clean()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("message", ["1", "[]", "null", '"start"', '{"type": 1}', "{}"])
async def test_a_message_that_is_no_message_closes_with_4400(
    live: LiveServer, log: ServerLog, protocol: str, message: str
) -> None:
    async with connect(live.ws_url, subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        await socket.send(message)
        messages, code = await close_code_or_answers(socket, lambda m: False)
    assert (messages, code) == ([], 4400)
    log.assert_clean()


# ---------------------------------------------------------------- property tests: HTTP


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON",
    GRAPHQL_RESPONSE_JSON,
    "application/graphql",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "",
]
ACCEPTS = [
    None,
    "application/json",
    GRAPHQL_RESPONSE_JSON,
    "*/*",
    "text/event-stream",
    "multipart/mixed",
]


@SHAPES
@given(
    body=ANY_BODY.map(json.dumps).map(str.encode) | st.binary(max_size=64),
    content_type=st.sampled_from(CONTENT_TYPES),
    accept=st.sampled_from(ACCEPTS),
)
@example(
    body=b'{"query": "subscription { notifications { id } }"}',
    content_type="application/json",
    accept=None,
)
async def test_any_post_body_is_a_4xx_or_a_clean_answer(
    client: httpx.AsyncClient, log: ServerLog, body: bytes, content_type: str, accept: str | None
) -> None:
    headers = {"content-type": content_type, **({"accept": accept} if accept else {})}
    response = await client.post("/graphql", content=body, headers=headers)
    assert_clean_http(response)
    log.assert_clean()


QUERY_KEYS = st.sampled_from(["query", "variables", "operationName", "extensions"]) | st.text(
    max_size=5
)


@SHAPES
@given(
    params=st.dictionaries(
        QUERY_KEYS, st.sampled_from(DOCUMENTS) | JSON_ANY.map(json.dumps) | st.text(max_size=30)
    ),
    accept=st.sampled_from([*ACCEPTS, "text/html"]),
)
async def test_any_get_query_string_is_a_4xx_or_a_clean_answer(
    client: httpx.AsyncClient, log: ServerLog, params: dict[str, str], accept: str | None
) -> None:
    headers = {"accept": accept} if accept else {}
    response = await client.get("/graphql", params=params, headers=headers)
    assert_clean_http(response)
    log.assert_clean()


# ---------------------------------------------------------------- property tests: multipart

UPLOAD_PATHS = [
    "variables.input.identityDocument",
    "variables.input.companyRegistration",
    "variables.input.challengeToken",
    "variables.input.message",
    "variables.input",
    "variables",
    "query",
    "0.variables.input.identityDocument",
]
FILE = st.tuples(
    st.sampled_from(["id.pdf", "", "a b.png", "../x"]),
    st.sampled_from([b"%PDF-1.4 x", b"\x89PNG\r\n\x1a\n", b"", b"text"]),
    st.sampled_from(["application/pdf", "text/plain", "image/png"]),
)
INPUT_VALUE = st.none() | JSON_LEAF | JSON_ANY


@st.composite
def multipart_requests(draw: st.DrawFn, challenge: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(text parts, file parts) of a multipart request: mostly requestTwoFactorRecovery
    with a live challenge and any value in each input field, sometimes anything at all."""
    fields = ["challengeToken", "identityDocument", "companyRegistration", "message"]
    values = {name: draw(INPUT_VALUE) for name in fields}
    values["challengeToken"] = draw(st.sampled_from([challenge, None]) | INPUT_VALUE)
    operations: object = draw(
        st.just({"query": REQUEST_RECOVERY, "variables": {"input": values}})
        | REQUEST_OBJECT
        | st.lists(REQUEST_OBJECT, max_size=2)
        | JSON_ANY
    )
    names = draw(st.lists(st.sampled_from(["0", "1", "operations", "map"]), unique=True))
    paths = st.lists(st.sampled_from(UPLOAD_PATHS) | st.text(max_size=10), max_size=2)
    files_map: object = draw(
        st.dictionaries(st.sampled_from(["0", "1", "2"]), paths, max_size=3) | JSON_ANY
    )
    texts = {"operations": json.dumps(operations), "map": json.dumps(files_map)}
    for name in ("operations", "map"):
        if draw(st.booleans()) and draw(st.booleans()):
            del texts[name]
    files = {}
    for name in names:
        if draw(st.booleans()):
            files[name] = draw(FILE)  # a file where text may be expected too
        else:
            texts[name] = draw(st.text(max_size=20))
    return texts, files


@SHAPES
@given(data=st.data())
async def test_any_multipart_request_is_a_4xx_or_a_clean_answer(
    client: httpx.AsyncClient, challenge: str, log: ServerLog, data: st.DataObject
) -> None:
    texts, files = data.draw(multipart_requests(challenge))
    response = await client.post("/graphql", data=texts, files=files or {"": ("", b"")})
    assert_clean_http(response)
    log.assert_clean()


# ---------------------------------------------------------------- property tests: WebSocket

TYPES = {
    TRANSPORT_WS: ["connection_init", "ping", "pong", "subscribe", "complete", "next", "error"],
    LEGACY_WS: ["connection_init", "connection_terminate", "start", "stop", "data", "ka"],
}
IDS = st.sampled_from(["1", "2", ""]) | JSON_LEAF | st.lists(JSON_LEAF, max_size=1)


def ws_messages(protocol: str) -> st.SearchStrategy[str]:
    shaped = st.fixed_dictionaries(
        {"type": st.sampled_from(TYPES[protocol]) | JSON_LEAF},
        optional={"id": IDS, "payload": REQUEST_OBJECT | JSON_ANY},
    )
    return shaped.map(json.dumps) | JSON_ANY.map(json.dumps) | st.text(max_size=20)


async def exchange(
    url: str, protocol: str, token: str, initialised: bool, messages: list[str]
) -> None:
    """Send the messages (after a good connection_init when `initialised`), then a probe
    that any open socket answers; read until it is answered or the socket closes."""
    async with connect(url, subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        if initialised:
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            await socket.send(json.dumps(init))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
        for message in messages:
            await socket.send(message)
        if protocol == TRANSPORT_WS:
            probe: dict[str, Any] = {"type": "ping"}
        else:  # an operation that fails validation: an `error` for its id, at once
            probe = {"type": "start", "id": "probe", "payload": {"query": "subscription { x }"}}

        def answers_probe(message: dict[str, Any]) -> bool:
            if protocol == TRANSPORT_WS:
                return message == {"type": "pong"}
            return message.get("id") == "probe" and message.get("type") == "error"

        try:
            await socket.send(json.dumps(probe))
        except ConnectionClosed:
            pass  # already closing: what it said is read below
        answers, code = await close_code_or_answers(socket, answers_probe)
    for answer in answers:
        if answer.get("type") in ("next", "data"):
            assert_clean_errors(answer["payload"].get("errors", []))
        elif answer.get("type") == "error":
            assert_clean_errors(answer.get("payload"))
    if code is None:  # open, and the probe was answered
        return
    rejected = any(a.get("type") == "connection_error" for a in answers)
    # 1000: a legacy connection_terminate; 1011 only after a legacy connection_error (the
    # protocol's refusal of connection_init, which Strawberry follows with that code).
    assert 4400 <= code < 4500 or code == 1000 or (code == 1011 and rejected), (code, answers)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@SHAPES
@given(data=st.data(), initialised=st.booleans())
async def test_any_websocket_messages_get_an_answer_or_a_close_code(
    live: LiveServer,
    token: str,
    log: ServerLog,
    protocol: str,
    initialised: bool,
    data: st.DataObject,
) -> None:
    messages = data.draw(st.lists(ws_messages(protocol), min_size=1, max_size=3))
    await exchange(live.ws_url, protocol, token, initialised, messages)
    log.assert_clean()


# The contract's codes that the checks above accept are the ErrorCode enum's and the
# request errors' (docs/errors.md): a test of tests/fuzz/schemathesis_hooks.py's lists.
def test_the_clean_codes_are_the_documented_ones() -> None:
    assert {code.value for code in ErrorCode} == CONTRACT_CODES
    assert "GRAPHQL_VALIDATION_FAILED" in REQUEST_CODES
