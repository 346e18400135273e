"""Documents executed before run prepared (schema/prepared.py), and the common POST of JSON is
served without Strawberry's request adapter (transport/graphql_http.py): same answers, same
log lines and metrics, same refusals, as the first time through Strawberry's own path."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from strawberry.asgi import GraphQL

from schema.build import VerrouSchema
from schema.prepared import MAX_PREPARED_BYTES, PreparedOperations
from services import status as status_service
from tests.helpers import STATUS, Api

TWO_FIELDS = "query Status { twoFactorStatus { enabled backupCodesRemaining } }"
SIGN_IN = """mutation SignIn($input: SignInInput!) {
  signIn(input: $input) { session { token } errors { code field } }
}"""
WRONG = {"input": {"email": "alice@example.com", "password": "not the password at all"}}


def schema_of(app: Starlette) -> VerrouSchema:
    schema = app.state.subscriptions._schema  # FanOutSchema wraps it for the sockets
    assert isinstance(schema, VerrouSchema)
    return schema


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        {key: getattr(r, key) for key in ("operation", "operation_name", "outcome", "status")}
        for r in caplog.records
        if r.name == "verrou.requests"
    ]


async def test_a_document_runs_prepared_from_its_second_request(
    api: Api, app: Starlette, extension_builds: list[int]
) -> None:
    schema = schema_of(app)
    token = await api.sign_up()
    extension_builds.clear()  # counted from the query's first request
    first = await api.gql(TWO_FIELDS, token=token)
    assert schema.prepared.get(TWO_FIELDS, None) is not None
    assert len(extension_builds) == 1
    second = await api.gql(TWO_FIELDS, token=token)
    assert (
        second
        == first
        == {"data": {"twoFactorStatus": {"enabled": False, "backupCodesRemaining": 0}}}
    )
    assert len(extension_builds) == 1  # no extension objects for the prepared run


async def test_the_prepared_run_logs_and_counts_as_the_first(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    await api.sign_up()
    caplog.set_level(logging.INFO, logger="verrou.requests")
    answers = [await api.gql(SIGN_IN, WRONG) for _ in range(2)]
    assert answers[0] == answers[1]
    assert answers[0]["data"]["signIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    lines = request_lines(caplog)
    assert (
        lines[0]
        == lines[1]
        == {
            "operation": "signIn",
            "operation_name": "SignIn",
            "outcome": "user_error",
            "status": 200,
        }
    )
    text = (await api.client.get("/metrics")).text
    assert 'verrou_requests_total{operation="signIn",outcome="user_error"} 2' in text


async def test_variables_that_do_not_coerce_are_refused_alike(
    api: Api, app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    schema = schema_of(app)
    bad = {"input": {"email": "alice@example.com"}}  # no password
    caplog.set_level(logging.INFO, logger="verrou.requests")
    unprepared = await api.gql(SIGN_IN, bad)
    assert schema.prepared.get(SIGN_IN, None) is None  # a request error prepares nothing
    await api.gql(SIGN_IN, WRONG)
    assert schema.prepared.get(SIGN_IN, None) is not None
    prepared = await api.gql(SIGN_IN, bad)
    assert prepared == unprepared
    assert prepared["data"] is None
    assert prepared["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    lines = request_lines(caplog)
    assert lines[0] == lines[2]
    assert lines[0]["operation"] == "invalid" and lines[0]["outcome"] == "rejected"
    # The spec's media type: a request error is a 400 with no data, prepared or not.
    response = await api.client.post(
        "/graphql",
        json={"query": SIGN_IN, "variables": bad},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400 and "data" not in response.json()


async def test_an_unexpected_error_is_logged_and_masked_alike(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token = await api.sign_up()

    async def broken(*args: Any) -> Any:
        raise RuntimeError("the secret detail")

    # No status from the session's statement: the resolver reads it, and that read fails.
    monkeypatch.setattr("transport.context.status_of_session", lambda *args: None)
    monkeypatch.setattr(status_service, "get_status", broken)
    caplog.set_level(logging.ERROR, logger="verrou.graphql")
    answers = [await api.gql(STATUS, token=token) for _ in range(2)]
    assert answers[0] == answers[1]
    assert answers[0]["errors"][0]["message"] == "Unexpected error."
    assert answers[0]["errors"][0]["path"] == ["twoFactorStatus"]
    assert "the secret detail" not in str(answers)
    logged = [r for r in caplog.records if r.getMessage() == "unexpected error in twoFactorStatus"]
    assert len(logged) == 2


async def test_a_prepared_mutation_is_still_refused_over_get(api: Api) -> None:
    await api.gql(SIGN_IN, WRONG)
    response = await api.client.get("/graphql", params={"query": SIGN_IN})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_documents_that_fail_validation_are_never_prepared(api: Api, app: Starlette) -> None:
    schema = schema_of(app)
    for _ in range(2):
        body = await api.gql("{ twoFactorStatus { madeUp } }")
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert len(schema.prepared) == 0


def test_the_cache_keeps_the_most_recently_used() -> None:
    cache = PreparedOperations(maxsize=2)
    for query in ("{ a }", "{ b }"):
        cache.remember(query, None)
    assert cache.get("{ a }", None) is not None  # now the most recent
    cache.remember("{ c }", None)
    assert len(cache) == 2
    assert cache.get("{ b }", None) is None
    assert cache.get("{ a }", None) is not None and cache.get("{ c }", None) is not None
    # A name no operation has, or two operations without a name: nothing to prepare.
    cache.remember("query A { a } query B { b }", "C")
    cache.remember("query A { a } query B { b }", None)
    assert len(cache) == 2
    # A long document is not prepared (each plan holds its text and its tree).
    long = "{ a " + " " * MAX_PREPARED_BYTES + "}"
    cache.remember(long, None)
    assert cache.get(long, None) is None


async def test_a_json_post_skips_strawberrys_request_adapter(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await api.sign_up()
    runs: list[str] = []
    run = GraphQL.run

    async def counting(self: GraphQL[Any, Any], request: Any, *args: Any, **kwargs: Any) -> Any:
        runs.append(request.method)
        return await run(self, request, *args, **kwargs)

    monkeypatch.setattr(GraphQL, "run", counting)
    assert (await api.gql(TWO_FIELDS, token=token))["data"]["twoFactorStatus"]["enabled"] is False
    assert runs == []
    # Everything else still goes through Strawberry's run: a GET, a batch, a form.
    get = await api.client.get(
        "/graphql", params={"query": TWO_FIELDS}, headers={"accept": "application/json"}
    )
    assert get.status_code == 200
    batch = await api.client.post("/graphql", json=[{"query": TWO_FIELDS}])
    assert batch.status_code == 400
    assert runs == ["GET", "POST"]


async def test_an_operation_name_that_is_not_a_string_is_refused_not_a_crash(api: Api) -> None:
    """Strawberry passes `operationName` on as the JSON had it; the plans are keyed by it."""
    for name in (["Status"], {"a": 1}, 7):
        response = await api.client.post(
            "/graphql", json={"query": TWO_FIELDS, "operationName": name}
        )
        assert response.status_code < 500, response.text
