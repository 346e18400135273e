"""WebSocket operations are seen (issue 14, item 3), over a real uvicorn and both protocols.

Each operation sent over a socket writes the request log line an HTTP request writes (root
fields, client's operation name, outcome, duration, a request id of its own, with the
socket's id beside it) and counts in /metrics' request counters; and it meets the same
limits (schema/limits.py) as over HTTP.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from services.clock import FrozenClock
from tests.conftest import LiveServer
from tests.helpers import PASSWORD, Api, until
from tests.test_observability import metric
from tests.test_socket_sessions import ask
from tests.ws_client import LEGACY_WS, NOTIFICATIONS, TRANSPORT_WS, Subscriber

PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
MINE = "query Mine { viewer { email } }"
START = """
mutation Begin($input: StartTwoFactorInput!) {
  startTwoFactor(input: $input) { errors { code } }
}
"""
# The keys every request log line has, HTTP or WebSocket (transport/middleware.py).
LINE_KEYS = {
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "operation",
    "operation_name",
    "outcome",
}


@pytest.fixture
async def over_socket(live: LiveServer, clock: FrozenClock) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=live.url) as client:
        yield Api(client, clock)


@asynccontextmanager
async def signed_in_socket(
    live: LiveServer, token: str, protocol: str = TRANSPORT_WS, request_id: str | None = None
) -> AsyncIterator[Subscriber]:
    headers = {"X-Request-ID": request_id} if request_id else None
    async with connect(
        live.ws_url,
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers=headers,
    ) as connection:
        client = Subscriber(connection, protocol)
        ack = await client.init({"authorization": f"Bearer {token}"})
        assert ack["type"] == "connection_ack", ack
        yield client


def request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "verrou.requests"]


def socket_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [line for line in request_lines(caplog) if getattr(line, "method", None) == "WEBSOCKET"]


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: getattr(record, key) for key in LINE_KEYS | {"socket_id", "protocol"}}


async def metrics(api: Api) -> str:
    return (await api.client.get("/metrics")).text


# ---------------------------------------------------------------- logged and counted


async def test_a_query_and_a_mutation_over_the_socket_are_logged_and_counted_like_http(
    live: LiveServer, over_socket: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="verrou.requests")
    token = await over_socket.sign_up()
    assert (await over_socket.data(MINE, token=token))["viewer"] is not None  # over HTTP
    async with signed_in_socket(live, token, request_id="sock-7") as client:
        answer = await ask(client, MINE, "1")
        assert answer["data"]["viewer"]["email"] == "alice@example.com"
        started = await ask(client, START, "2", {"input": {"password": PASSWORD}})
        assert started["data"]["startTwoFactor"]["errors"] == [], started
        await until(lambda: len(socket_lines(caplog)) == 2)

    http_line = next(line for line in request_lines(caplog) if line.operation_name == "Mine")  # type: ignore[attr-defined]
    query_line, mutation_line = socket_lines(caplog)
    assert LINE_KEYS <= set(vars(http_line)) and LINE_KEYS <= set(vars(query_line))
    assert fields(query_line) | {"duration_ms": None, "request_id": None} == {
        "request_id": None,
        "method": "WEBSOCKET",
        "path": "/graphql",
        "status": None,
        "duration_ms": None,
        "operation": "viewer",
        "operation_name": "Mine",
        "outcome": "ok",
        "socket_id": "sock-7",
        "protocol": TRANSPORT_WS,
    }
    assert (mutation_line.operation, mutation_line.operation_name, mutation_line.outcome) == (  # type: ignore[attr-defined]
        "startTwoFactor",
        "Begin",
        "ok",
    )
    ids = [query_line.request_id, mutation_line.request_id, http_line.request_id]  # type: ignore[attr-defined]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids[:2]), ids
    assert all(line.duration_ms >= 0 for line in (query_line, mutation_line))  # type: ignore[attr-defined]

    text = await metrics(over_socket)
    assert metric(text, 'verrou_requests_total{operation="viewer",outcome="ok"}') == 2
    assert metric(text, 'verrou_requests_total{operation="startTwoFactor",outcome="ok"}') == 1
    assert metric(text, 'verrou_request_duration_seconds_count{operation="viewer"}') == 2


async def test_outcomes_over_the_socket_are_those_of_http(
    live: LiveServer, over_socket: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="verrou.requests")
    token = await over_socket.sign_up()
    async with signed_in_socket(live, token) as client:
        refused = await ask(client, "query Nope { noSuchField }", "1")
        assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        user_error = await ask(client, START, "2", {"input": {"password": "not the password"}})
        assert user_error["data"]["startTwoFactor"]["errors"] != []
        await until(lambda: len(socket_lines(caplog)) == 2)

    outcomes = [(line.operation, line.outcome) for line in socket_lines(caplog)]  # type: ignore[attr-defined]
    assert outcomes == [("invalid", "rejected"), ("startTwoFactor", "user_error")]
    text = await metrics(over_socket)
    assert metric(text, 'verrou_requests_total{operation="invalid",outcome="rejected"}') == 1
    assert (
        metric(text, 'verrou_requests_total{operation="startTwoFactor",outcome="user_error"}') == 1
    )
    assert "noSuchField" not in text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_subscription_is_logged_and_counted_when_it_ends(
    live: LiveServer, over_socket: Api, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    caplog.set_level(logging.INFO, logger="verrou.requests")
    token = await over_socket.sign_up()
    async with signed_in_socket(live, token, protocol) as client:
        await client.subscribe(NOTIFICATIONS.replace("subscription", "subscription Feed"))
        await until(lambda: live.app.state.subscriptions.member_count() == 1)
        assert socket_lines(caplog) == []  # not before it ends
        stop = "complete" if protocol == TRANSPORT_WS else "stop"
        await client.connection.send(json.dumps({"id": "1", "type": stop}))
        await until(lambda: len(socket_lines(caplog)) == 1)

    (line,) = socket_lines(caplog)
    assert (line.operation, line.operation_name, line.outcome, line.protocol) == (  # type: ignore[attr-defined]
        "notifications",
        "Feed",
        "ok",
        protocol,
    )
    text = await metrics(over_socket)
    assert metric(text, 'verrou_requests_total{operation="notifications",outcome="ok"}') == 1


# ---------------------------------------------------------------- the same limits

LIMITED = {
    "GRAPHQL_MAX_DEPTH": {
        "query": "subscription { notifications { account { notifications { edges { node {"
        " account { notifications { edges { node { account { email } } } } } } } } } } }"
    },
    "GRAPHQL_MAX_ALIASES": {
        "query": "subscription { notifications { "
        + " ".join(f"a{n}: id" for n in range(16))
        + " } }"
    },
    "GRAPHQL_MAX_TOKENS": {"query": "subscription { notifications { " + "id " * 2000 + "} }"},
    "GRAPHQL_MAX_DOCUMENT_BYTES": {
        "query": "subscription { notifications { id } }\n# " + "x" * 100_000
    },
    "GRAPHQL_MAX_VARIABLES_BYTES": {
        "query": "subscription Big($note: String) { notifications { id } }",
        "variables": {"note": "x" * 100_001},
    },
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("limit", sorted(LIMITED))
async def test_every_limit_holds_over_both_protocols_and_the_refusal_is_counted(
    live: LiveServer,
    over_socket: Api,
    caplog: pytest.LogCaptureFixture,
    protocol: str,
    limit: str,
) -> None:
    caplog.set_level(logging.INFO, logger="verrou.requests")
    token = await over_socket.sign_up()
    async with signed_in_socket(live, token, protocol) as client:
        kind = "subscribe" if protocol == TRANSPORT_WS else "start"
        await client.connection.send(
            json.dumps({"id": "1", "type": kind, "payload": LIMITED[limit]})
        )
        message = await client.receive()
        assert message["type"] == "error", message
        errors = message["payload"] if protocol == TRANSPORT_WS else [message["payload"]]
        assert errors[0]["extensions"]["limit"] == limit, errors
        assert errors[0]["extensions"]["code"] in ("QUERY_TOO_COMPLEX", "REQUEST_TOO_LARGE")
        await until(lambda: len(socket_lines(caplog)) == 1)
        assert live.app.state.subscriptions.member_count() == 0  # nothing runs

    (line,) = socket_lines(caplog)
    assert (line.operation, line.outcome) == ("invalid", "rejected")  # type: ignore[attr-defined]
    text = await metrics(over_socket)
    assert metric(text, 'verrou_requests_total{operation="invalid",outcome="rejected"}') == 1
