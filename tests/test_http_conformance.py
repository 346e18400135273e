"""GraphQL over HTTP as the spec has it: content negotiation on Accept, 4xx and no `data`
for request errors under application/graphql-response+json, application/json unchanged,
405 for a mutation over GET, and the GraphQL multipart request spec with clear refusals.

The npm graphql-http audit suite checks the same against a live server in CI
(conformance/audit.mjs); these tests pin the behaviour in the Python suite."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from models import RecoveryRequest
from tests.helpers import Api
from transport.graphql_http import negotiate

GRAPHQL_RESPONSE = "application/graphql-response+json"
SIGN_OUT = "mutation { signOut { errors { code } } }"

REQUEST_RECOVERY = """
mutation Request($input: RequestTwoFactorRecoveryInput!) {
  requestTwoFactorRecovery(input: $input) {
    request { status documents { kind } }
    errors { code field message }
  }
}
"""
PASSPORT = b"%PDF-1.4\n1 0 obj << /Marker (PASSPORT) >> endobj\n%%EOF\n"

# What a request error looks like to each kind of client.
REQUEST_ERRORS = {
    "parse": {"query": "{ viewer { "},
    "validation": {"query": "{ viewerr }"},
    "variable coercion": {
        "query": "query ($first: Int) { viewer { notifications(first: $first) { totalCount } } }",
        "variables": {"first": "twenty"},
    },
    "missing variable": {"query": "query ($id: ID!) { node(id: $id) { id } }", "variables": {}},
}


async def post(api: Api, body: dict[str, Any], accept: str | None) -> httpx.Response:
    headers = {"Accept": accept} if accept is not None else {}
    return await api.client.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", "application/json"),
        (f"application/json;q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, */*;q=0.8", "application/json"),
        (f"{GRAPHQL_RESPONSE};charset=utf-8", GRAPHQL_RESPONSE),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, application/json", "application/json"),
        ("text/plain", "application/json"),
    ],
)
def test_accept_header_chooses_the_media_type(accept: str | None, chosen: str) -> None:
    assert negotiate(accept) == chosen


@pytest.mark.parametrize("kind", list(REQUEST_ERRORS))
async def test_request_errors_are_400_without_data_for_graphql_response_json(
    api: Api, kind: str
) -> None:
    response = await post(api, REQUEST_ERRORS[kind], GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    body = response.json()
    assert "data" not in body
    assert body["errors"] and all("message" in error for error in body["errors"])


@pytest.mark.parametrize("kind", list(REQUEST_ERRORS))
@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
async def test_request_errors_stay_200_with_null_data_for_application_json(
    api: Api, kind: str, accept: str | None
) -> None:
    response = await post(api, REQUEST_ERRORS[kind], accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["data"] is None and body["errors"]


async def test_a_successful_query_answers_in_the_negotiated_type(api: Api) -> None:
    token = await api.sign_up()
    response = await api.client.post(
        "/graphql",
        json={"query": "{ viewer { email } }"},
        headers={"Accept": GRAPHQL_RESPONSE, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert response.json() == {"data": {"viewer": {"email": "alice@example.com"}}}


async def test_an_executed_operation_with_a_field_error_stays_200(api: Api) -> None:
    """Signed out, twoFactorStatus (non-null) fails and nulls the whole data: still an
    executed operation, so 2xx and a `data` entry, even under the new media type."""
    response = await post(api, {"query": "{ twoFactorStatus { enabled } }"}, GRAPHQL_RESPONSE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["twoFactorStatus"]
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_get_runs_queries_in_the_negotiated_type(api: Api) -> None:
    response = await api.client.get(
        "/graphql", params={"query": "{ viewer { email } }"}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json() == {"data": {"viewer": None}}


async def test_a_mutation_over_get_is_405_allowing_post(api: Api) -> None:
    response = await api.client.get(
        "/graphql", params={"query": SIGN_OUT}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_the_graphiql_page_is_still_html(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


# ---------------------------------------------------------------- multipart request spec


async def two_factor_challenge(api: Api) -> str:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    return await api.challenge()


def operations(challenge: str) -> str:
    return json.dumps(
        {
            "query": REQUEST_RECOVERY,
            "variables": {"input": {"challengeToken": challenge, "identityDocument": None}},
        }
    )


async def multipart(api: Api, form: dict[str, str], files: dict[str, Any]) -> httpx.Response:
    return await api.client.post("/graphql", data=form, files=files)


async def test_an_upload_in_the_multipart_spec_format_reaches_the_resolver(api: Api) -> None:
    challenge = await two_factor_challenge(api)
    response = await multipart(
        api,
        {
            "operations": operations(challenge),
            "map": json.dumps({"0": ["variables.input.identityDocument"]}),
        },
        {"0": ("passport.pdf", PASSPORT, "application/pdf")},
    )
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["requestTwoFactorRecovery"]
    assert payload["errors"] == []
    assert payload["request"] == {"status": "PENDING", "documents": []}
    assert await RecoveryRequest.all().count() == 1


@pytest.mark.parametrize(
    ("form", "files", "message"),
    [
        (
            {"map": json.dumps({"0": ["variables.input.identityDocument"]})},
            {"0": ("a.pdf", PASSPORT, "application/pdf")},
            "multipart request without its `operations` field",
        ),
        (
            {"operations": "OPS"},
            {"0": ("a.pdf", PASSPORT, "application/pdf")},
            "multipart request without its `map` field",
        ),
        (
            {"operations": "OPS", "map": "{not json"},
            {"0": ("a.pdf", PASSPORT, "application/pdf")},
            "multipart field `map` is not valid JSON",
        ),
        (
            {"operations": "OPS", "map": json.dumps(["variables.input.identityDocument"])},
            {"0": ("a.pdf", PASSPORT, "application/pdf")},
            "multipart field `map` must be a JSON object",
        ),
        (
            {"operations": "OPS", "map": json.dumps({"1": ["variables.input.identityDocument"]})},
            {"0": ("a.pdf", PASSPORT, "application/pdf")},
            "`map` names file field '1', absent from the request",
        ),
        (
            {"operations": "OPS", "map": json.dumps({"0": "variables.input.identityDocument"})},
            {"0": ("a.pdf", PASSPORT, "application/pdf")},
            "`map` entry '0' must be a list of paths",
        ),
        (
            {"operations": "OPS", "map": json.dumps({"0": ["variables.input.passport"]})},
            {"0": ("a.pdf", PASSPORT, "application/pdf")},
            "`map` path 'variables.input.passport' is not a null value in `operations`",
        ),
        (
            {"operations": "OPS", "map": json.dumps({"0": ["variables.input.challengeToken"]})},
            {"0": ("a.pdf", PASSPORT, "application/pdf")},
            "`map` path 'variables.input.challengeToken' is not a null value in `operations`",
        ),
    ],
)
async def test_a_bad_multipart_request_is_400_saying_what_is_wrong(
    api: Api, form: dict[str, str], files: dict[str, Any], message: str
) -> None:
    if form.get("operations") == "OPS":
        form = {**form, "operations": operations("challenge-token")}
    response = await multipart(api, form, files)
    assert response.status_code == 400, response.text
    assert message in response.text
    assert await RecoveryRequest.all().count() == 0


async def test_a_client_that_leaves_mid_request_is_no_error(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    """The body never arrives (the client disconnected): no traceback in the error log."""
    messages = [
        {"type": "http.request", "body": b'{"query": "{ viewer', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
        "client": ("203.0.113.7", 51000),
        "server": ("testserver", 80),
    }
    async with app.router.lifespan_context(app):
        with caplog.at_level(logging.DEBUG):
            await app(scope, receive, send)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert sent[0]["status"] == 499


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{ viewer { email "}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ viewer { nickname } }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "{ node }"}, "GRAPHQL_VALIDATION_FAILED"),
        (
            {
                "query": "query($id: ID!) { node(id: $id) { id } }",
                "variables": {"id": {"not": "an id"}},
            },
            "BAD_USER_INPUT",
        ),
        ({"query": "query($id: ID!) { node(id: $id) { id } }"}, "BAD_USER_INPUT"),
    ],
    ids=["syntax", "unknown field", "missing argument", "wrong variable", "missing variable"],
)
async def test_request_errors_say_what_kind_they_are(
    api: Api, body: dict[str, Any], code: str
) -> None:
    response = await api.client.post("/graphql", json=body)
    errors = response.json()["errors"]
    assert [error["extensions"]["code"] for error in errors] == [code] * len(errors), errors
