"""Schemathesis check for Verrou: every error in a response is a clean one.

Schemathesis's own `not_a_server_error` calls any GraphQL error with a `path` a server
error, but Verrou answers UNAUTHENTICATED or FORBIDDEN that way on purpose (with the
contract's `extensions.code`). This check fails instead on what a hostile client must never
get: a 5xx, a masked unexpected error, an INTERNAL code, or a message that shows a Python
exception or traceback. Loaded with SCHEMATHESIS_HOOKS by tests/fuzz/schemathesis_run.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

# The contract's ErrorCode values, as top-level errors carry them in extensions.code
# (tests/test_input_shapes.py checks this is the enum's list).
CONTRACT_CODES = frozenset(
    {
        "INVALID_INPUT",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "EMAIL_TAKEN",
        "INVALID_CREDENTIALS",
        "INVALID_CODE",
        "CODE_ALREADY_USED",
        "RATE_LIMITED",
        "CHALLENGE_EXPIRED",
        "TWO_FACTOR_ALREADY_ENABLED",
        "TWO_FACTOR_NOT_ENABLED",
        "NO_PENDING_SETUP",
        "SETUP_EXPIRED",
        "CONFIRMATION_REQUIRED",
        "FILE_TOO_LARGE",
        "UNSUPPORTED_FILE_TYPE",
        "ALREADY_RESOLVED",
        "TWO_FACTOR_REQUIRED",
        "LINK_EXPIRED",
        "SECURITY_KEY_REJECTED",
        "PERSISTED_QUERY_NOT_ALLOWED",
    }
)
# The codes of request errors (README "Top-level errors"): the document, its variables or the
# request was refused before anything ran.
REQUEST_CODES = frozenset(
    {
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_USER_INPUT",
        "QUERY_TOO_COMPLEX",
        "REQUEST_TOO_LARGE",
        "METHOD_NOT_ALLOWED",
        "CSRF_REFUSED",
        "PERSISTED_QUERY_NOT_FOUND",
    }
)
MASKED = "Unexpected error."
# "ValueError: ...", "KeyError", 'File "x.py", line 3': Python talking, not the API.
PYTHON_LEAK = re.compile(r"Traceback|File \"|\b[A-Z][a-zA-Z]*(?:Error|Exception)\b")


def problems(status: int, body: bytes) -> list[str]:
    """What is wrong with one response; empty when it is clean."""
    if status >= 500:
        return [f"server error: HTTP {status}"]
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return []  # a plain-text 4xx from the HTTP layer (e.g. a body that is not JSON)
    if not isinstance(payload, dict):
        return []
    found = []
    for error in payload.get("errors") or []:
        message = str(error.get("message", ""))
        code = (error.get("extensions") or {}).get("code")
        if message == MASKED:
            found.append(f"an unexpected exception (masked) at {error.get('path')}")
        elif code is not None and code not in CONTRACT_CODES | REQUEST_CODES:
            found.append(f"error code {code!r} outside the contract: {message!r}")
        elif code in REQUEST_CODES and "path" in error:
            found.append(f"a request error code on an executed field: {message!r}")
        elif "path" in error and code is None:
            found.append(f"an execution error without a contract code: {message!r}")
        if PYTHON_LEAK.search(message):
            found.append(f"a message that shows Python: {message!r}")
    return found


# Files come as GraphQL multipart requests; schemathesis sends JSON, so an Upload argument
# gets whatever a hostile client could put there instead: text or a number (a request error
# since the Upload scalar refuses values). Files themselves, in Upload fields and elsewhere,
# are the property tests' of tests/test_input_shapes.py, which `make fuzz` runs after this.
schemathesis.graphql.scalar(
    "Upload", st.text(max_size=50).map(nodes.String) | st.integers().map(nodes.Int)
)


# The JSON scalar (WebAuthn options and credentials) takes any value; a credential's own keys
# come up often, so the WebAuthn parsers behind it see objects of roughly their shape.
def _json_node(value: object) -> Any:
    if isinstance(value, dict):
        return nodes.Object(
            [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=_json_node(item))
                for key, item in value.items()
            ]
        )
    if isinstance(value, list):
        return nodes.List([_json_node(item) for item in value])
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    return nodes.Null if value is None else nodes.String(value)


_KEYS = st.sampled_from(["id", "rawId", "type", "response", "clientDataJSON", "attestationObject"])
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            _KEYS | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), inner, max_size=4
        )
    ),
    max_leaves=10,
)
schemathesis.graphql.scalar("JSON", _JSON_VALUES.map(_json_node))


@schemathesis.check
def verrou_clean_errors(ctx: Any, response: Any, case: Any) -> None:
    found = problems(response.status_code, response.content)
    if found:
        raise AssertionError("; ".join(found))
