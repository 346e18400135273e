"""Property-based tests: whatever a client types, the parsers of its input answer with the
contract's errors (services.errors), a clean None/False, or a 4xx; never an exception of
their own, never a masked INTERNAL error.

Profiles: `dev` (default) and `ci` (chosen by CI=true or HYPOTHESIS_PROFILE=ci), both without
deadline (the machine is shared; a slow example is not a failure) and with a moderate number
of examples. The examples database lives in .hypothesis/ (git-ignored).
"""

from __future__ import annotations

import base64
import json
import os
import string
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from schema.global_id import MAX_PK, from_global_id, to_global_id
from services import totp
from services.crypto import KeyRing
from services.errors import InvalidInput
from services.pagination import decode_cursor, encode_cursor
from tests.conftest import TEST_KEY
from tests.helpers import PASSWORD, Api
from transport import request_json

settings.register_profile("dev", deadline=None, max_examples=150)
settings.register_profile("ci", deadline=None, max_examples=100, print_blob=True, derandomize=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

# Every code point, lone surrogates included: JSON's \ud800 escape gives Python such a str.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=200)
# What can reach a service: text without NUL or lone surrogates (request_json refuses those).
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=200)
LONG = "0123456789 -" * 100_000  # 1.2 MB: a code field filled to the body limit and more
FULLWIDTH = "\uff11\uff12\uff13\uff14\uff15\uff16"  # str.isdigit() says yes to these
KEYS = KeyRing((TEST_KEY.encode(),))
AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# API-level examples share one app per test: examples must not change what later ones see.
# Fewer of them: each is a request through the whole app.
API_SETTINGS = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40
)


# ---------------------------------------------------------------- TOTP and backup codes


@given(TEXT)
@example(LONG)
@example(
    "\u0130 \u0131 \u00df \ufb01 \u01c5"
)  # lower() changes these lengths or maps them outside ASCII
@example("\u3000" + FULLWIDTH + "\u2028")  # ideographic space, fullwidth digits, line separator
def test_normalize_code_never_raises_and_is_idempotent(raw: str) -> None:
    normalized = totp.normalize_code(raw)
    assert totp.normalize_code(normalized) == normalized
    assert not any(c.isspace() or c == "-" for c in normalized)
    # The digest a lookup computes: any valid text hashes.
    assert len(KEYS.digests(normalized)[0]) == 64


@given(TEXT)
@example(FULLWIDTH)  # fullwidth digits: str.isdigit() says yes, a TOTP code is ASCII
@example("\u0661\u0662\u0663\u0664\u0665\u0666")  # Arabic-Indic
@example("12345\uff16")
def test_only_six_ascii_digits_look_like_a_totp_code(raw: str) -> None:
    normalized = totp.normalize_code(raw)
    if totp.looks_like_totp(normalized):
        assert len(normalized) == 6 and all(c in string.digits for c in normalized)


@given(st.sampled_from(totp.new_backup_codes(10)), st.data())
def test_a_backup_code_typed_any_way_normalises_to_the_printed_one(
    code: str, data: st.DataObject
) -> None:
    separators = st.sampled_from([" ", "-", "  ", "\t", " - ", "\u00a0", ""])
    typed = "".join(
        data.draw(separators) + (c.upper() if data.draw(st.booleans()) else c)
        for c in code.replace("-", "")
    )
    assert totp.normalize_code(typed) == code.replace("-", "")


@given(st.binary(min_size=14, max_size=64), ANY_TEXT, st.integers(-10, 10))
@example(b"12345678901234567890", "287082", 0)
@example(b"12345678901234567890", "00000\uff10", 0)
@example(b"12345678901234567890", LONG, 0)
def test_matching_step_answers_a_step_or_none_for_any_code(
    key: bytes, code: str, offset: int
) -> None:
    # Any key pyotp takes (112 bits at least), in base32 without padding like ours.
    secret = base64.b32encode(key).decode("ascii").rstrip("=")
    at = AT + timedelta(seconds=offset * totp.PERIOD)
    step = totp.matching_step(secret, code, at)
    assert step is None or abs(step - int(at.timestamp()) // totp.PERIOD) <= totp.VALID_WINDOW
    # And the app's own code is always accepted, at exactly its step.
    good = totp.code_at(secret, at)
    assert totp.matching_step(secret, good, at) == int(at.timestamp()) // totp.PERIOD


def test_new_secrets_are_base32_the_apps_read() -> None:
    for _ in range(50):
        secret = totp.new_secret()
        assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
        assert pyotp.TOTP(secret).at(AT) == totp.code_at(secret, AT)


@given(
    issuer=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=40),
    email=st.emails(),
)
@example(issuer="A:B & C?=#/%", email="x+tag@example.com")
def test_otpauth_uri_round_trips_through_an_authenticator_parser(issuer: str, email: str) -> None:
    secret = totp.new_secret()
    uri = totp.otpauth_uri(secret, issuer, email)
    parsed = urlsplit(uri)
    query = {k: v[0] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert query["secret"] == secret and query["issuer"] == issuer
    assert unquote(parsed.path.removeprefix("/")) == f"{issuer}:{email}"


# ---------------------------------------------------------------- cursors and global ids


@given(ANY_TEXT)
@example(LONG)
@example(base64.urlsafe_b64encode(b"cursor:1_0").decode())  # int() reads "1_0" as 10
@example(base64.urlsafe_b64encode(b"cursor: 7").decode())
@example(base64.urlsafe_b64encode(b"cursor:007").decode())
@example(base64.urlsafe_b64encode(b"cursor:" + b"9" * 5000).decode())  # int() digit limit
@example(encode_cursor(3) + "!!")  # b64decode drops non-alphabet characters by default
@example(encode_cursor(3).rstrip("="))
def test_a_cursor_decodes_to_its_one_key_or_invalid_input(cursor: str) -> None:
    try:
        pk = decode_cursor(cursor, "after")
    except InvalidInput as error:
        assert error.field == "after"
    else:
        assert 0 < pk <= MAX_PK
        # One key, one spelling: any other text is not a cursor we handed out.
        assert encode_cursor(pk) == cursor


@given(st.integers(1, MAX_PK))
def test_every_cursor_round_trips(pk: int) -> None:
    assert decode_cursor(encode_cursor(pk), "after") == pk


@given(ANY_TEXT)
@example(LONG)
@example(base64.urlsafe_b64encode(b"Account:007").decode())
@example(base64.urlsafe_b64encode(b"Account:" + b"9" * 5000).decode())
@example(base64.urlsafe_b64encode(b"Account:9223372036854775808").decode())
@example(to_global_id("Account", 1) + "!!")
@example(to_global_id("Account", 1).rstrip("="))
@example(base64.urlsafe_b64encode("Accoun\u00e9:1".encode()).decode())
def test_a_global_id_is_one_of_ours_exactly_or_none(global_id: str) -> None:
    decoded = from_global_id(global_id)
    if decoded is not None:
        type_name, pk = decoded
        assert 0 < pk <= MAX_PK
        assert to_global_id(type_name, pk) == global_id


@given(st.sampled_from(["Account", "Notification", "SecurityEvent"]), st.integers(1, MAX_PK))
def test_every_global_id_round_trips(type_name: str, pk: int) -> None:
    assert from_global_id(to_global_id(type_name, pk)) == (type_name, pk)


# ---------------------------------------------------------------- signed download links


@given(TEXT, st.text(max_size=80))
@example("1:99999999999", "")
@example("1:1", "é" * 64)
@example("1:1", "0" * 10_000)
def test_link_signature_check_is_a_clean_yes_or_no(message: str, signature: str) -> None:
    purpose = b"document-download/v1"
    assert KEYS.verify(message, signature, purpose) is False or signature == KEYS.sign(
        message, purpose
    )
    assert KEYS.verify(message, KEYS.sign(message, purpose), purpose) is True


# ---------------------------------------------------------------- through the API


def _unstorable(text: str) -> bool:
    """NUL or a lone surrogate: text request_json refuses."""
    return any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in text)


def _no_internal_error(body: dict[str, Any]) -> None:
    for error in body.get("errors") or []:
        assert error["message"] != "Unexpected error.", body
        assert (error.get("extensions") or {}).get("code") != "INTERNAL", body
        assert "Traceback" not in error["message"], body


NODE = "query N($id: ID!) { node(id: $id) { id } }"


@pytest.fixture
async def token(api: Api) -> str:
    return await api.sign_up()


@API_SETTINGS
@given(global_id=ANY_TEXT)
@example(global_id=to_global_id("Account", 2**63))
@example(global_id=to_global_id("Notification", MAX_PK))
@example(global_id=to_global_id("RecoveryRequest", MAX_PK))
@example(global_id=to_global_id("\x00", 1))
async def test_node_with_any_id_is_null_or_a_clean_error(
    api: Api, token: str, global_id: str
) -> None:
    response = await api.client.post(
        "/graphql",
        content=json.dumps({"query": NODE, "variables": {"id": global_id}}),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        body = response.json()
        _no_internal_error(body)
        node = body["data"]["node"]
        assert node is None or node["id"] == global_id  # only ever the object asked for
    else:  # only the request's own JSON can be refused: NUL or a lone surrogate in the id
        assert _unstorable(global_id), response.text


FEED = """
query F($after: String) { viewer { notifications(first: 5, after: $after) { totalCount } } }
"""


@API_SETTINGS
@given(cursor=TEXT)
@example(cursor=base64.urlsafe_b64encode(b"cursor:" + b"9" * 5000).decode())
@example(cursor=base64.urlsafe_b64encode(b"cursor:9223372036854775808").decode())
async def test_a_feed_after_any_cursor_answers_or_says_invalid_input(
    api: Api, token: str, cursor: str
) -> None:
    body = await api.gql(FEED, {"after": cursor}, token=token)
    _no_internal_error(body)
    if "errors" in body:
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"], body


MARK_READ = """
mutation M($ids: [ID!]) { markNotificationsRead(input: {ids: $ids}) { errors { code field } } }
"""


@API_SETTINGS
@given(ids=st.lists(TEXT, min_size=1, max_size=3))
@example(ids=[to_global_id("Notification", 2**31)])
@example(ids=[to_global_id("Notification", 1) + "!!"])
async def test_marking_any_ids_read_is_done_or_invalid_input(
    api: Api, token: str, ids: list[str]
) -> None:
    body = await api.gql(MARK_READ, {"ids": ids}, token=token)
    _no_internal_error(body)
    assert "errors" not in body, body
    errors = body["data"]["markNotificationsRead"]["errors"]
    assert all(error["code"] == "INVALID_INPUT" for error in errors), errors


SIGN_IN = """
mutation S($email: String!, $password: String!) {
  signIn(input: {email: $email, password: $password}) { session { token } errors { code } }
}
"""
VERIFY = """
mutation V($token: String!, $code: String!) {
  verifySignIn(input: {challengeToken: $token, code: $code}) { session { token } errors { code } }
}
"""


@API_SETTINGS
@given(email=ANY_TEXT, password=ANY_TEXT)
@example(email="alice@example.com", password="\ud800")  # was an unexpected error (500-like)
@example(email="a\udfff@example.com", password=PASSWORD)
@example(email="\x00", password="\x00")  # PostgreSQL text cannot hold NUL: was a server error
@example(email="alice@example.com\x00", password=PASSWORD)
async def test_sign_in_with_any_text_is_a_payload_error_or_a_refused_request(
    api: Api, email: str, password: str
) -> None:
    response = await api.client.post(
        "/graphql",
        content=json.dumps({"query": SIGN_IN, "variables": {"email": email, "password": password}}),
        headers={"content-type": "application/json"},
    )
    if response.status_code == 400:
        assert _unstorable(email + password), response.text
        return
    assert response.status_code == 200, response.text
    body = response.json()
    _no_internal_error(body)
    assert body["data"]["signIn"]["session"] is None


@pytest.fixture
async def challenge(app: Starlette, api: Api) -> str:
    """A sign-in challenge of an account with 2FA on, allowing many wrong codes."""
    token = await api.sign_up()
    await api.enable_two_factor(token)
    return await api.challenge()


@settings(API_SETTINGS, max_examples=25)
@given(code=ANY_TEXT)
@example(code=LONG[:100_000])
@example(code="\ud800\udc00")
@example(code=FULLWIDTH)
async def test_verify_sign_in_with_any_code_is_a_clean_refusal(
    api: Api, challenge: str, code: str
) -> None:
    response = await api.client.post(
        "/graphql",
        content=json.dumps({"query": VERIFY, "variables": {"token": challenge, "code": code}}),
        headers={"content-type": "application/json"},
    )
    if response.status_code == 400:
        assert _unstorable(code), response.text
        return
    if response.status_code == 413:
        # Over GRAPHQL_MAX_VARIABLES_BYTES: refused before anything runs.
        assert len(code) > 10_000, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
        return
    assert response.status_code == 200, response.text
    body = response.json()
    _no_internal_error(body)
    payload = body["data"]["verifySignIn"]
    assert payload["session"] is None
    assert [e["code"] for e in payload["errors"]] in (
        ["INVALID_CODE"],
        ["CHALLENGE_EXPIRED"],
        ["RATE_LIMITED"],
    )


@API_SETTINGS
@given(document_id=st.from_regex(r"[0-9]{1,6000}", fullmatch=True), expires=TEXT, sig=TEXT)
@example(document_id="9" * 5000, expires="1", sig="")
@example(document_id="9223372036854775808", expires="99999999999", sig="0" * 64)
@example(document_id="1", expires="²", sig="")
async def test_a_forged_download_link_is_refused_never_a_server_error(
    api: Api, app: Starlette, document_id: str, expires: str, sig: str
) -> None:
    agent = "agent@verrou.example"
    if agent not in api.support_tokens:  # the first example of this test
        await api.support_agent(app.state.runtime, agent)
    response = await api.client.get(
        f"/recovery-documents/{document_id}",
        params={"expires": expires, "signature": sig},
        headers={"authorization": f"Bearer {api.support_tokens[agent]}"},
    )
    # 404 also from the router, for an id no document can have (too many digits).
    assert response.status_code in (403, 404), response.text


# ---------------------------------------------------------------- request JSON


def _json_containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | ANY_TEXT, _json_containers, max_leaves=20
)


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [key, *_texts(item)]]
    return []


@given(JSON_VALUES)
def test_request_json_gives_back_valid_unicode_or_refuses_it(value: object) -> None:
    text = json.dumps(value)
    try:
        decoded = request_json.decode(text.encode("ascii"))
    except json.JSONDecodeError:
        assert any(_unstorable(text) for text in _texts(value))
    else:
        assert decoded == value
        json.dumps(decoded, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"query": "{ viewer { id } }", "variables": {"a": ' + b"[" * 50_000 + b"}",
        b'{"query": "\xff"}',
        b'{"query": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes
        b'{"query": "{ viewer { id } }", "operationName": "\\udc00"}',
        b'{"query": "{ viewer { id } }", "variables": {"x": "a\\u0000"}}',
    ],
)
async def test_hostile_json_bodies_are_400_not_a_crash(api: Api, body: bytes) -> None:
    response = await api.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text


async def test_a_nul_in_a_string_literal_is_a_validation_error(api: Api) -> None:
    body = await api.gql(
        'mutation { signIn(input: {email: "a@example.com\\u0000", password: "x"}) '
        "{ errors { code } } }"
    )
    assert body.get("data") is None, body
    assert [e["message"] for e in body["errors"]] == [
        "String values cannot contain U+0000 (NUL)."
    ], body
