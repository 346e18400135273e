"""The schemathesis check of tests/fuzz: what it calls a failure, and what it lets pass."""

from __future__ import annotations

import json

import pytest

from tests.fuzz.schemathesis_hooks import problems


def body(*errors: dict[str, object], data: object = None) -> bytes:
    return json.dumps({"data": data, "errors": list(errors)}).encode()


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (500, b"Internal Server Error"),
        (502, b""),
        (200, body({"message": "Unexpected error.", "path": ["signIn"]})),
        (200, body({"message": "boom", "path": ["node"], "extensions": {"code": "INTERNAL"}})),
        (200, body({"message": "oops", "path": ["node"]})),
        (200, body({"message": "ValueError: invalid literal for int()", "path": ["x"]})),
        (200, body({"message": 'Traceback (most recent call last):\n  File "x.py"'})),
        (400, body({"message": "KeyError: 'query'"})),
        (200, body({"message": "x", "extensions": {"code": "SOMETHING_ELSE"}})),
        (200, body({"message": "x", "path": ["a"], "extensions": {"code": "BAD_USER_INPUT"}})),
    ],
)
def test_a_server_failure_or_a_python_leak_is_a_problem(status: int, content: bytes) -> None:
    assert problems(status, content)


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (200, json.dumps({"data": {"viewer": None}}).encode()),
        (
            200,
            body(
                {
                    "message": "Sign in first.",
                    "path": ["x"],
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            ),
        ),
        (200, body({"message": "Syntax Error: Unexpected Name 'x'.", "locations": []})),
        (
            200,
            body(
                {
                    "message": "Cannot query field 'x' on type 'Query'.",
                    "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
                }
            ),
        ),
        (200, body({"message": "Variable '$id' of required type 'ID!' was not provided."})),
        (400, b"Unable to parse request body as JSON"),
        (405, b"GraphQL only supports GET and POST requests."),
    ],
)
def test_a_clean_refusal_is_no_problem(status: int, content: bytes) -> None:
    assert problems(status, content) == []
