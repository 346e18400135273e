"""Readiness, metrics and the request log."""

from __future__ import annotations

import json
import logging
import secrets
import sys
from pathlib import Path

import pytest

from server import create_app
from services.clock import FrozenClock
from tests.conftest import make_settings, start
from tests.helpers import Api
from tests.postgres import POSTGRES_URL, scratch_database
from transport import logs

WRONG_SIGN_IN = """
mutation Whatever($input: SignInInput!) { signIn(input: $input) { errors { code } } }
"""


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


async def test_ready_when_the_database_answers(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok"}


async def test_metrics_count_requests_outcomes_and_security(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    challenge = await api.challenge()
    for _ in range(2):
        await api.verify(challenge, "000000")
    await api.verify(challenge, api.code(enabled.secret))
    for _ in range(11):
        await api.gql(WRONG_SIGN_IN, {"input": {"email": "x@example.com", "password": "nope"}})

    text = (await api.client.get("/metrics")).text
    assert metric(text, 'verrou_requests_total{operation="signUp",outcome="ok"}') == 1
    assert metric(text, 'verrou_requests_total{operation="signIn",outcome="user_error"}') == 11
    assert metric(text, 'verrou_request_duration_seconds_count{operation="signIn"}') == 12
    assert metric(text, "verrou_two_factor_enabled_total") == 1
    assert metric(text, "verrou_second_factor_failures_total") == 2
    assert metric(text, "verrou_rate_limited_total") == 1
    assert metric(text, "verrou_open_subscriptions") == 0
    assert metric(text, "verrou_outbox_failed") == 0
    assert "verrou_outbox_pending" in text


async def test_metric_labels_do_not_follow_client_chosen_names(api: Api) -> None:
    for _ in range(3):
        name = "ClientChosen" + secrets.token_hex(4)
        await api.gql(f"query {name} {{ viewer {{ email }} }}")
    text = (await api.client.get("/metrics")).text
    assert metric(text, 'verrou_requests_total{operation="viewer",outcome="ok"}') == 3
    assert "ClientChosen" not in text


async def test_each_request_is_logged_once_with_its_id_and_no_query_string(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="verrou.requests")
    response = await api.client.post(
        "/graphql",
        json={"query": "query Mine { viewer { email } }"},
        headers={"X-Request-ID": "req-42"},
    )
    assert response.headers["x-request-id"] == "req-42"
    await api.client.get("/recovery-documents/1?expires=1&signature=SECRET-SIGNATURE")
    odd = await api.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert odd.headers["x-request-id"] != "bad id with spaces"

    lines = [r for r in caplog.records if r.name == "verrou.requests"]
    assert [r.path for r in lines] == ["/graphql", "/recovery-documents/1", "/healthz"]  # type: ignore[attr-defined]
    first = lines[0]
    assert (
        first.request_id,
        first.operation,
        first.operation_name,
        first.outcome,
        first.status,
    ) == (  # type: ignore[attr-defined]
        "req-42",
        "viewer",
        "Mine",
        "ok",
        200,
    )
    assert "SECRET-SIGNATURE" not in caplog.text


def test_json_log_lines_carry_the_extra_fields() -> None:
    formatter = logs.JsonFormatter()
    record = logging.LogRecord("verrou.requests", logging.INFO, __file__, 1, "request", None, None)
    record.request_id = "abc"
    record.duration_ms = 1.5
    line = json.loads(formatter.format(record))
    assert line["logger"] == "verrou.requests"
    assert line["message"] == "request"
    assert (line["request_id"], line["duration_ms"]) == ("abc", 1.5)
    try:
        raise ValueError("boom")
    except ValueError:
        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "ValueError" in json.loads(formatter.format(failing))["exception"]


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set: skipped")
async def test_not_ready_once_the_database_is_gone(tmp_path: Path, clock: FrozenClock) -> None:
    async with scratch_database() as database:
        settings = make_settings(tmp_path / "unused", tmp_path / "var", database_url=database.url)
        async for client in start(create_app(settings, clock=clock)):
            assert (await client.get("/readyz")).status_code == 200
            await database.drop()
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json() == {"database": "unavailable"}


async def test_refused_documents_are_labelled_invalid(api: Api) -> None:
    await api.gql("{ madeUpFieldOne }")
    await api.gql("{ madeUpFieldTwo }")
    response = await api.client.post("/graphql", json={"query": "{ unparsable"})
    assert response.status_code == 200
    text = (await api.client.get("/metrics")).text
    assert metric(text, 'verrou_requests_total{operation="invalid",outcome="rejected"}') == 3
    assert "madeUpField" not in text


async def test_a_refused_field_keeps_its_label(api: Api) -> None:
    body = await api.gql("{ twoFactorStatus { enabled } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    text = (await api.client.get("/metrics")).text
    assert metric(text, 'verrou_requests_total{operation="twoFactorStatus",outcome="error"}') == 1
