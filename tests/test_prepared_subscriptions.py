"""Subscriptions whose document was validated before run prepared (schema/prepared.py's
`stream`): no extension objects kept for the stream's life, and the same results as
Strawberry's own path gave the first subscription: the events, a variable refused before the
stream, an error raised on purpose, a failure masked and logged, the stream's own exception
as its last result."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from unittest import mock

import httpx
import pytest
import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types.execution import PreExecutionError

from schema import prepared, root
from schema.build import VerrouSchema, should_mask
from schema.fanout import FanOutSchema
from schema.limits import RequestLimits
from schema.prepared import RememberSubscriptions
from schema.request_errors import RequestErrorCodes
from services.clock import FrozenClock
from tests.conftest import LiveServer
from tests.helpers import Api, until
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, subscriber


@strawberry.type
class Item:
    number: int

    @strawberry.field
    def broken(self) -> int:
        raise RuntimeError("a detail no client may read")


@strawberry.type
class Query:
    hello: str = "hello"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self, upto: int) -> AsyncGenerator[Item, None]:
        for number in range(upto):
            yield Item(number=number)

    @strawberry.subscription
    async def refuses(self) -> AsyncGenerator[int, None]:
        raise GraphQLError("not for you", extensions={"code": "FORBIDDEN"})
        yield 0  # pragma: no cover  (an async generator that never yields)

    @strawberry.subscription
    async def breaks(self) -> AsyncGenerator[int, None]:
        yield 1
        raise RuntimeError("the stream's secret")


def toy_schema() -> VerrouSchema:
    """VerrouSchema over a toy subscription type, with the extensions that act on a
    subscription's results (the others parse, validate and label HTTP requests)."""
    # The real schema's connection types, which this one has none of, go undescribed.
    with mock.patch("schema.build.describe_connections"):
        return VerrouSchema(
            query=Query,
            subscription=Subscription,
            extensions=[
                lambda: MaskErrors(should_mask_error=should_mask),
                RequestErrorCodes,
                RememberSubscriptions,
            ],
            limits=RequestLimits(),
            hide_suggestions=False,
        )


def shape(result: Any) -> tuple[str, Any, list[dict[str, Any]], Any]:
    errors = [error.formatted for error in result.errors or ()]
    return (type(result).__name__, result.data, errors, result.extensions)


async def results(schema: VerrouSchema, query: str, variables: Any = None) -> list[Any]:
    source = await schema.stream(query, variables)
    return [shape(result) async for result in source]


DOCUMENTS = [
    ("subscription Count($upto: Int!) { count(upto: $upto) { number } }", {"upto": 3}),
    ("subscription Count($upto: Int!) { count(upto: $upto) { number } }", {"upto": "three"}),
    ("subscription { count(upto: 2) { number broken } }", None),
    ("subscription { refuses }", None),
    ("subscription { breaks }", None),
]


@pytest.mark.parametrize(("query", "variables"), DOCUMENTS)
async def test_the_prepared_stream_gives_what_strawberrys_gave(
    query: str,
    variables: Any,
    extension_builds: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = toy_schema()
    caplog.set_level(logging.ERROR, logger="verrou.graphql")
    first = await results(schema, query, variables)
    assert schema.prepared.get(query, None) is not None
    first_logs = [record.getMessage() for record in caplog.records]
    caplog.clear()
    second = await results(schema, query, variables)
    assert extension_builds == [1]  # Strawberry's extensions for the first stream only
    assert second == first
    assert [record.getMessage() for record in caplog.records] == first_logs
    assert "detail" not in repr(second)  # a field's failure is masked


async def test_what_each_document_answers() -> None:
    """What the comparison above compares, read once: each case is the case it names."""
    schema = toy_schema()
    answers = [await results(schema, query, variables) for query, variables in DOCUMENTS]
    events, refused_variable, masked_field, refused, broken = answers
    assert [data for _, data, _, _ in events] == [{"count": {"number": n}} for n in range(3)]
    [(kind, data, [error], _)] = refused_variable
    assert kind == PreExecutionError.__name__ and data is None
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [errors[0]["message"] for _, _, errors, _ in masked_field] == ["Unexpected error."] * 2
    assert masked_field[0][2][0]["path"] == ["count", "broken"]
    [(_, _, [forbidden], _)] = refused
    assert forbidden["message"] == "not for you"
    assert forbidden["extensions"] == {"code": "FORBIDDEN"}
    # A stream's own exception keeps its text on both paths (no path: not masked); the
    # real schema's subscription turns one into an unexpected error first (schema/root.py,
    # the last test here).
    assert [data for _, data, _, _ in broken] == [{"breaks": 1}, None]
    assert broken[-1][2][0]["message"] == "the stream's secret"


async def test_a_document_that_fails_validation_is_not_prepared() -> None:
    schema = toy_schema()
    [(_, _, [error], _)] = await results(schema, "subscription { nothing }")
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert schema.prepared.get("subscription { nothing }", None) is None
    # A query over the socket is prepared by its execution, not here.
    await results(schema, "{ hello }")
    assert schema.prepared.get("{ hello }", None) is None


async def test_a_prepared_subscription_is_still_refused_where_subscriptions_are_not_allowed() -> (
    None
):
    schema = toy_schema()
    query = "subscription { count(upto: 1) { number } }"
    await results(schema, query)
    source = await schema.stream(query, allowed_operation_types=())
    [result] = [shape(result) async for result in source]
    assert result[2][0]["message"] == "subscriptions are not allowed"


@pytest.fixture
async def over_socket(live: LiveServer, clock: FrozenClock) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=live.url, headers={"user-agent": "tests"}) as client:
        yield Api(client, clock)


def stream_code(group: Any) -> Any:
    """The code of the stream a group's pump reads."""
    return group._task.get_coro().cr_frame.f_locals["stream"].ag_code


async def test_the_second_accounts_socket_runs_the_prepared_stream(
    live: LiveServer, over_socket: Api
) -> None:
    fanout: FanOutSchema = live.app.state.subscriptions
    alice = await over_socket.sign_up("alice@example.com")
    bob = await over_socket.sign_up("bob@example.com")
    async with subscriber(live.ws_url, alice, protocol=TRANSPORT_WS) as first:
        await until(lambda: fanout.member_count() == 1)
        async with subscriber(live.ws_url, bob, protocol=LEGACY_WS) as second:
            await until(lambda: fanout.member_count() == 2)
            alices, bobs = fanout._all_groups()
            await until(lambda: "stream" in alices._task.get_coro().cr_frame.f_locals)
            await until(lambda: "stream" in bobs._task.get_coro().cr_frame.f_locals)
            # The first account's stream is Strawberry's, the second's the prepared one.
            assert stream_code(alices) is not prepared.stream.__code__
            assert stream_code(bobs) is prepared.stream.__code__
            await over_socket.enable_two_factor(alice)
            await over_socket.enable_two_factor(bob)
            events = [
                (await client.next_event())["data"]["notifications"] for client in (first, second)
            ]
    assert [event["account"]["email"] for event in events] == [
        "alice@example.com",
        "bob@example.com",
    ]
    alike = [
        {key: value for key, value in event.items() if key not in ("id", "account", "createdAt")}
        for event in events
    ]
    assert alike[0] == alike[1]
    assert alike[0]["kind"] == "TWO_FACTOR_ENABLED"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_failure_of_the_notifications_stream_reaches_no_client_as_text(
    live: LiveServer,
    over_socket: Api,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    protocol: str,
) -> None:
    async def failing(info: Any, after: str | None = None) -> AsyncGenerator[Any, None]:
        raise RuntimeError("connection to db.internal:5432 refused")
        yield  # pragma: no cover

    monkeypatch.setattr(root.subscriptions, "notifications", failing)
    caplog.set_level(logging.ERROR, logger="verrou.graphql")
    token = await over_socket.sign_up()
    async with subscriber(live.ws_url, token, protocol=protocol) as client:
        message = await client.receive()
    assert "db.internal" not in json.dumps(message)
    # The stream's last result: `next` (graphql-transport-ws) or `data` (graphql-ws).
    assert message["type"] == ("next" if protocol == TRANSPORT_WS else "data")
    errors = message["payload"]["errors"]
    assert [(error["message"], error.get("path")) for error in errors] == [
        ("Unexpected error.", ["notifications"])
    ]
    assert "code" not in errors[0].get("extensions", {})  # not a request error
    [record] = [r for r in caplog.records if r.name == "verrou.graphql"]
    assert record.getMessage() == "unexpected error in the notifications stream"
    assert "db.internal" in str(record.exc_info[1])  # type: ignore[index]
