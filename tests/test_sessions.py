"""Accounts and bearer sessions: sign-up, sign-in, sign-out, the password limiter, the
security history, locales and error masking, through the real schema and app."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from models import FailedAttempt, Session
from server import create_app
from services import history
from services.clock import FrozenClock
from services.i18n import translate
from services.settings import Settings
from tests.conftest import T0, start
from tests.helpers import PASSWORD, SIGN_IN, SIGN_UP, Api, error_codes

WRONG_PASSWORD = "not the right password at all"

VIEWER = """
query { viewer { id email companyName billingContactEmail locale role createdAt } }
"""

SIGN_OUT = "mutation { signOut { errors { code field message retryAfter } } }"

SECURITY_EVENTS = """
query Events($first: Int, $after: String) {
  viewer {
    securityEvents(first: $first, after: $after) {
      totalCount
      edges { cursor node { id kind ipAddress userAgent createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

NODE = """
query Node($id: ID!) { node(id: $id) { id ... on SecurityEvent { kind } } }
"""

START_TWO_FACTOR = """
mutation Start($password: String!) {
  startTwoFactor(input: {password: $password}) { setup { secret } errors { code field message } }
}
"""

# Every mutation that needs a session, with the name of its payload.
SIGNED_IN_MUTATIONS: dict[str, str] = {
    "startTwoFactor": (
        'mutation { startTwoFactor(input: {password: "correct horse battery staple"}) '
        "{ setup { secret } errors { code field message } } }"
    ),
    "cancelTwoFactorSetup": (
        "mutation { cancelTwoFactorSetup { status { enabled } errors { code field message } } }"
    ),
    "confirmTwoFactor": (
        'mutation { confirmTwoFactor(input: {code: "123456"}) '
        "{ status { enabled } backupCodes errors { code field message } } }"
    ),
    "regenerateBackupCodes": (
        'mutation { regenerateBackupCodes(input: {password: "correct horse battery staple"}) '
        "{ status { enabled } backupCodes errors { code field message } } }"
    ),
    "disableTwoFactor": (
        'mutation { disableTwoFactor(input: {password: "correct horse battery staple", '
        "confirm: true}) { status { enabled } errors { code field message } } }"
    ),
    "signOut": "mutation { signOut { errors { code field message } } }",
    "markNotificationsRead": (
        "mutation { markNotificationsRead(input: {}) "
        "{ unreadNotificationCount errors { code field message } } }"
    ),
}


async def sign_up_payload(api: Api, **input_fields: Any) -> dict[str, Any]:
    fields = {"email": "alice@example.com", "password": PASSWORD, **input_fields}
    payload: dict[str, Any] = (await api.data(SIGN_UP, {"input": fields}))["signUp"]
    return payload


async def viewer(api: Api, token: str) -> dict[str, Any] | None:
    result: dict[str, Any] | None = (await api.data(VIEWER, token=token))["viewer"]
    return result


async def sign_out(api: Api, token: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(SIGN_OUT, token=token))["signOut"]
    return payload


async def events(api: Api, token: str, first: int = 10, after: str | None = None) -> dict[str, Any]:
    result = await api.data(SECURITY_EVENTS, {"first": first, "after": after}, token=token)
    connection: dict[str, Any] = result["viewer"]["securityEvents"]
    return connection


def kinds(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["kind"] for edge in connection["edges"]]


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed


# ---------------------------------------------------------------- sign-up and sessions


async def test_sign_up_token_has_256_random_bits_and_differs_per_session(api: Api) -> None:
    first = await api.sign_up("alice@example.com")
    second = await api.sign_up("bob@example.com")

    # secrets.token_urlsafe(32): 32 random bytes are 43 URL-safe base64 characters.
    assert len(first) >= 43
    assert len(second) >= 43
    assert first != second


async def test_sign_up_opens_a_session_that_viewer_recognises(api: Api) -> None:
    payload = await sign_up_payload(
        api, email="Alice@Example.COM", companyName="ACME SAS", locale="EN"
    )
    assert payload["errors"] == []
    session = payload["session"]
    assert session["account"]["email"] == "alice@example.com"
    assert session["account"]["locale"] == "EN"
    assert session["account"]["twoFactor"] == {"enabled": False}

    account = await viewer(api, session["token"])
    assert account is not None
    assert account["id"] == session["account"]["id"]
    assert account["email"] == "alice@example.com"
    assert account["billingContactEmail"] == "alice@example.com"
    assert account["companyName"] == "ACME SAS"
    assert account["locale"] == "EN"
    assert account["role"] == "CUSTOMER"
    assert parse_time(account["createdAt"]) == T0


async def test_sign_up_keeps_an_explicit_billing_contact_email(api: Api) -> None:
    payload = await sign_up_payload(api, billingContactEmail="Billing@Example.com")
    assert payload["errors"] == []

    account = await viewer(api, payload["session"]["token"])
    assert account is not None
    assert account["billingContactEmail"] == "billing@example.com"
    assert account["companyName"] is None


@pytest.mark.sqlite_only
async def test_session_token_is_stored_only_as_its_sha256(api: Api, db_path: Path) -> None:
    token = await api.sign_up()

    rows = await Session.all()
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()

    with sqlite3.connect(db_path) as db:
        session_rows = db.execute("SELECT * FROM session").fetchall()
        dump = "\n".join(db.iterdump())
    assert len(session_rows) == 1
    for value in session_rows[0]:
        assert token not in str(value)
    # Nowhere else in the database either.
    assert token not in dump


async def test_session_expires_fourteen_days_after_sign_up(api: Api) -> None:
    payload = await sign_up_payload(api)
    token = payload["session"]["token"]
    assert parse_time(payload["session"]["expiresAt"]) == T0 + timedelta(days=14)
    stored = await Session.get(account__email="alice@example.com")
    assert stored.expires_at == T0 + timedelta(days=14)

    # In use every 100 minutes, so the idle lifetime never ends it (tests/test_session_lifetime.py).
    while api.clock.now() + timedelta(minutes=100) < T0 + timedelta(days=14):
        api.clock.advance(timedelta(minutes=100).total_seconds())
        assert await viewer(api, token) is not None
    api.clock.advance((T0 + timedelta(days=14) - api.clock.now()).total_seconds() - 1)
    assert await viewer(api, token) is not None

    api.clock.advance(2)
    assert await viewer(api, token) is None


async def test_sign_up_with_an_email_taken_in_another_case_answers_email_taken(api: Api) -> None:
    await api.sign_up("alice@example.com")

    payload = await sign_up_payload(api, email="ALICE@example.COM")
    assert payload["session"] is None
    assert error_codes(payload) == ["EMAIL_TAKEN"]
    assert payload["errors"][0]["field"] == ["input", "email"]
    assert payload["errors"][0]["message"]


@pytest.mark.parametrize(
    "email", ["not-an-email", "alice@example", "al ice@example.com", "a@b@example.com", ""]
)
async def test_sign_up_with_a_malformed_email_answers_invalid_input_on_email(
    api: Api, email: str
) -> None:
    payload = await sign_up_payload(api, email=email)
    assert payload["session"] is None
    assert error_codes(payload) == ["INVALID_INPUT"]
    assert payload["errors"][0]["field"] == ["input", "email"]


async def test_sign_up_with_an_eleven_character_password_answers_invalid_input_on_password(
    api: Api,
) -> None:
    payload = await sign_up_payload(api, password="x" * 11)
    assert payload["session"] is None
    assert error_codes(payload) == ["INVALID_INPUT"]
    assert payload["errors"][0]["field"] == ["input", "password"]
    # Nothing was created: the address is still free.
    assert (await sign_up_payload(api, password="x" * 12))["errors"] == []


# ---------------------------------------------------------------- sign-in


async def test_sign_in_without_two_factor_returns_a_new_session(api: Api) -> None:
    signed_up = await api.sign_up()

    payload = await api.sign_in("Alice@Example.com")
    assert payload["errors"] == []
    assert payload["challenge"] is None
    token = payload["session"]["token"]
    assert token != signed_up
    assert payload["session"]["account"]["email"] == "alice@example.com"
    assert parse_time(payload["session"]["expiresAt"]) == T0 + timedelta(days=14)

    account = await viewer(api, token)
    assert account is not None and account["email"] == "alice@example.com"


async def test_sign_in_with_a_wrong_password_answers_invalid_credentials(api: Api) -> None:
    await api.sign_up()

    payload = await api.sign_in(password=WRONG_PASSWORD)
    assert payload["session"] is None
    assert payload["challenge"] is None
    assert error_codes(payload) == ["INVALID_CREDENTIALS"]


async def test_sign_in_with_unknown_email_answers_invalid_credentials_like_a_wrong_password(
    api: Api,
) -> None:
    await api.sign_up()
    wrong_password = await api.sign_in(password=WRONG_PASSWORD)

    unknown = await api.sign_in("nobody@example.com")
    assert unknown["session"] is None
    assert unknown["challenge"] is None
    assert error_codes(unknown) == ["INVALID_CREDENTIALS"]
    # Same code, same message, same field: nothing says which of the two was wrong.
    assert unknown["errors"] == wrong_password["errors"]


# ---------------------------------------------------------------- sign-out


async def test_sign_out_ends_only_the_current_session(api: Api) -> None:
    first = await api.sign_up()
    second = (await api.sign_in())["session"]["token"]

    assert (await sign_out(api, first))["errors"] == []

    assert await viewer(api, first) is None
    other = await viewer(api, second)
    assert other is not None and other["email"] == "alice@example.com"
    assert (
        await Session.get(token_hash=hashlib.sha256(first.encode()).hexdigest())
    ).revoked_at == T0


async def test_sign_out_twice_answers_unauthenticated(api: Api) -> None:
    token = await api.sign_up()
    assert (await sign_out(api, token))["errors"] == []

    again = await sign_out(api, token)
    assert error_codes(again) == ["UNAUTHENTICATED"]
    assert again["errors"][0]["message"]


# ---------------------------------------------------------------- signed out


@pytest.mark.parametrize("token", [None, "not-a-real-token", "x" * 43])
async def test_two_factor_status_signed_out_is_a_top_level_unauthenticated_error(
    api: Api, token: str | None
) -> None:
    await api.sign_up()

    body = await api.gql("query { twoFactorStatus { enabled } }", token=token)
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["UNAUTHENTICATED"]
    assert body["errors"][0]["path"] == ["twoFactorStatus"]


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
async def test_viewer_signed_out_is_null(api: Api, token: str | None) -> None:
    await api.sign_up()

    body = await api.gql(VIEWER, token=token)
    assert "errors" not in body
    assert body["data"] == {"viewer": None}


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
@pytest.mark.parametrize("mutation", sorted(SIGNED_IN_MUTATIONS))
async def test_signed_in_mutations_answer_unauthenticated_when_signed_out(
    api: Api, mutation: str, token: str | None
) -> None:
    await api.sign_up()

    result = await api.data(SIGNED_IN_MUTATIONS[mutation], token=token)
    payload = result[mutation]
    assert error_codes(payload) == ["UNAUTHENTICATED"]
    for key, value in payload.items():
        if key != "errors":
            assert value in (None, 0), (key, value)


async def test_a_malformed_authorization_header_acts_as_signed_out(api: Api) -> None:
    token = await api.sign_up()

    for header in [token, f"Basic {token}", "Bearer", f"Bearer {token}x"]:
        body = await api.gql(VIEWER, headers={"Authorization": header})
        assert body["data"] == {"viewer": None}, header


# ---------------------------------------------------------------- password rate limit


async def fail_sign_in(api: Api, email: str, times: int) -> None:
    for _ in range(times):
        payload = await api.sign_in(email, WRONG_PASSWORD)
        assert error_codes(payload) == ["INVALID_CREDENTIALS"]


def assert_rate_limited(payload: dict[str, Any]) -> int:
    assert payload["session"] is None
    assert payload["challenge"] is None
    assert error_codes(payload) == ["RATE_LIMITED"]
    retry_after = payload["errors"][0]["retryAfter"]
    assert isinstance(retry_after, int)
    assert 0 < retry_after <= 900
    return retry_after


async def test_eleventh_password_attempt_in_15_minutes_is_rate_limited_even_if_right(
    api: Api,
) -> None:
    await api.sign_up()
    await fail_sign_in(api, "alice@example.com", 10)

    assert_rate_limited(await api.sign_in())
    # Another case of the same email is the same subject.
    assert_rate_limited(await api.sign_in("ALICE@example.com"))
    # Other emails are not affected.
    assert (await api.sign_in("bob@example.com"))["errors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_rate_limit_retry_after_counts_down_to_the_window_end(api: Api) -> None:
    await api.sign_up()
    await fail_sign_in(api, "alice@example.com", 10)

    assert assert_rate_limited(await api.sign_in()) == 900
    api.clock.advance(600)
    assert assert_rate_limited(await api.sign_in()) == 300


async def test_rate_limit_lifts_after_15_minutes(api: Api) -> None:
    await api.sign_up()
    await fail_sign_in(api, "alice@example.com", 10)
    assert_rate_limited(await api.sign_in())

    api.clock.advance(15 * 60)
    payload = await api.sign_in()
    assert payload["errors"] == []
    assert payload["session"]["token"]


async def test_rate_limit_also_applies_to_unknown_emails(api: Api) -> None:
    await fail_sign_in(api, "nobody@example.com", 10)

    payload = await api.sign_in("nobody@example.com")
    assert_rate_limited(payload)


async def test_nine_failures_leave_the_right_password_working(api: Api) -> None:
    await api.sign_up()
    await fail_sign_in(api, "alice@example.com", 9)

    payload = await api.sign_in()
    assert payload["errors"] == []
    assert payload["session"]["token"]


async def test_rate_limit_count_survives_a_new_app_on_the_same_database(
    settings: Settings, clock: FrozenClock
) -> None:
    first_app: Starlette = create_app(settings, clock=clock)
    async for client in start(first_app):
        api = Api(client, clock)
        await api.sign_up()
        await fail_sign_in(api, "alice@example.com", 10)
        assert await FailedAttempt.filter(subject="password:alice@example.com").count() == 10

    second_app: Starlette = create_app(settings, clock=clock)
    async for client in start(second_app):
        api = Api(client, clock)
        assert_rate_limited(await api.sign_in())


# ---------------------------------------------------------------- security events


async def test_sign_in_sign_in_failure_and_sign_out_are_recorded_newest_first(api: Api) -> None:
    await api.sign_up()
    clock = api.clock
    clock.advance(60)
    assert error_codes(await api.sign_in(password=WRONG_PASSWORD)) == ["INVALID_CREDENTIALS"]
    clock.advance(60)
    token = (await api.sign_in())["session"]["token"]
    clock.advance(60)
    other = (await api.sign_in())["session"]["token"]
    clock.advance(60)
    assert (await sign_out(api, other))["errors"] == []

    connection = await events(api, token)
    assert connection["totalCount"] == 5
    assert kinds(connection) == [
        "SIGNED_OUT",
        "SIGNED_IN",
        "SIGNED_IN",
        "SIGN_IN_FAILED",
        "SIGNED_IN",  # the sign-up's session
    ]
    assert connection["pageInfo"]["hasNextPage"] is False
    times = [parse_time(edge["node"]["createdAt"]) for edge in connection["edges"]]
    assert times == [T0 + timedelta(seconds=s) for s in (240, 180, 120, 60, 0)]
    for edge in connection["edges"]:
        assert edge["node"]["ipAddress"] == "203.0.113.7"
        assert edge["node"]["userAgent"] == "verrou-tests/1.0"


async def test_unknown_email_failures_record_nothing_on_other_accounts(api: Api) -> None:
    token = await api.sign_up()
    await api.sign_in("nobody@example.com", WRONG_PASSWORD)

    assert kinds(await events(api, token)) == ["SIGNED_IN"]


async def test_security_events_paginate_with_first_and_after(api: Api) -> None:
    token = await api.sign_up()
    await api.sign_in(password=WRONG_PASSWORD)
    await api.sign_in()

    seen: list[str] = []
    ids: list[str] = []
    after: str | None = None
    for page_number in range(3):
        page = await events(api, token, first=1, after=after)
        assert page["totalCount"] == 3
        assert len(page["edges"]) == 1
        assert page["pageInfo"]["endCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["hasNextPage"] is (page_number < 2)
        seen.append(page["edges"][0]["node"]["kind"])
        ids.append(page["edges"][0]["node"]["id"])
        after = page["pageInfo"]["endCursor"]

    assert seen == ["SIGNED_IN", "SIGN_IN_FAILED", "SIGNED_IN"]
    assert len(set(ids)) == 3

    last = await events(api, token, first=1, after=after)
    assert last["edges"] == []
    assert last["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "Y3Vyc29yOng=", "é"])
async def test_a_garbage_after_cursor_is_a_top_level_invalid_input_error(
    api: Api, cursor: str
) -> None:
    token = await api.sign_up()

    body = await api.gql(SECURITY_EVENTS, {"first": 1, "after": cursor}, token=token)
    assert body["data"] == {"viewer": None}
    assert [error["extensions"]["code"] for error in body["errors"]] == ["INVALID_INPUT"]
    # The error names the argument and says what a cursor is (issue 15): not a generic text.
    assert body["errors"][0]["extensions"]["field"] == ["after"]
    assert body["errors"][0]["message"] == translate("BAD_CURSOR", "fr")


async def test_an_out_of_range_after_cursor_is_a_top_level_invalid_input_error(api: Api) -> None:
    token = await api.sign_up()
    # Well-formed, but its id does not fit in an SQLite INTEGER.
    cursor = base64.urlsafe_b64encode(b"cursor:" + b"9" * 30).decode()

    body = await api.gql(SECURITY_EVENTS, {"first": 1, "after": cursor}, token=token)
    assert body["data"] == {"viewer": None}
    assert [error.get("extensions", {}).get("code") for error in body["errors"]] == [
        "INVALID_INPUT"
    ], body


async def test_node_returns_the_accounts_own_security_event(api: Api) -> None:
    token = await api.sign_up()
    event = (await events(api, token))["edges"][0]["node"]

    result = await api.data(NODE, {"id": event["id"]}, token=token)
    assert result["node"] == {"id": event["id"], "kind": "SIGNED_IN"}


async def test_node_hides_another_accounts_security_event(api: Api) -> None:
    alice = await api.sign_up("alice@example.com")
    bob = await api.sign_up("bob@example.com")
    alices_event = (await events(api, alice))["edges"][0]["node"]["id"]

    assert (await api.data(NODE, {"id": alices_event}, token=bob))["node"] is None
    # Nor to anyone signed out.
    assert (await api.data(NODE, {"id": alices_event}))["node"] is None


@pytest.mark.parametrize(
    "global_id",
    [
        "garbage",
        "",
        "!!!",
        "U2VjdXJpdHlFdmVudDo=",  # "SecurityEvent:"
        "U2VjdXJpdHlFdmVudDoteA==",  # "SecurityEvent:-x"
        "Tm9wZToxMjM=",  # "Nope:123"
        "U2VjdXJpdHlFdmVudDo5OTk5",  # "SecurityEvent:9999", no such row
    ],
)
async def test_node_with_a_garbage_id_is_null(api: Api, global_id: str) -> None:
    token = await api.sign_up()

    body = await api.gql(NODE, {"id": global_id}, token=token)
    assert "errors" not in body, body
    assert body["data"] == {"node": None}


async def test_node_with_an_out_of_range_id_is_null(api: Api) -> None:
    token = await api.sign_up()
    huge = base64.urlsafe_b64encode(b"SecurityEvent:" + b"9" * 30).decode()

    body = await api.gql(NODE, {"id": huge}, token=token)
    assert "errors" not in body, body
    assert body["data"] == {"node": None}


# ---------------------------------------------------------------- locale


async def test_account_in_english_gets_english_payload_messages(api: Api) -> None:
    token = await api.sign_up(locale="EN")

    payload = (await api.data(START_TWO_FACTOR, {"password": WRONG_PASSWORD}, token=token))[
        "startTwoFactor"
    ]
    assert error_codes(payload) == ["INVALID_CREDENTIALS"]
    assert payload["errors"][0]["message"] == "Incorrect email or password."


async def test_account_locale_wins_over_accept_language(api: Api) -> None:
    token = await api.sign_up(locale="EN")

    body = await api.gql(
        START_TWO_FACTOR,
        {"password": WRONG_PASSWORD},
        token=token,
        headers={"Accept-Language": "fr-FR,fr;q=0.9"},
    )
    assert body["data"]["startTwoFactor"]["errors"][0]["message"] == "Incorrect email or password."


async def test_account_in_default_locale_gets_french_payload_messages(api: Api) -> None:
    token = await api.sign_up()

    payload = (await api.data(START_TWO_FACTOR, {"password": WRONG_PASSWORD}, token=token))[
        "startTwoFactor"
    ]
    assert error_codes(payload) == ["INVALID_CREDENTIALS"]
    assert payload["errors"][0]["message"] == "Adresse e-mail ou mot de passe incorrect."


async def test_signed_out_messages_follow_accept_language(api: Api) -> None:
    variables = {"input": {"email": "nobody@example.com", "password": WRONG_PASSWORD}}

    english = await api.gql(SIGN_IN, variables, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert english["data"]["signIn"]["errors"][0]["message"] == "Incorrect email or password."

    french = await api.gql(SIGN_IN, variables)
    assert french["data"]["signIn"]["errors"][0]["message"] == (
        "Adresse e-mail ou mot de passe incorrect."
    )

    preferred = await api.gql(
        SIGN_IN, variables, headers={"Accept-Language": "de, fr;q=0.5, en;q=0.8"}
    )
    assert preferred["data"]["signIn"]["errors"][0]["message"] == "Incorrect email or password."


# ---------------------------------------------------------------- masking


async def test_unexpected_errors_are_masked(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await api.sign_up()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom internal detail")

    monkeypatch.setattr(history, "security_events", broken)

    response = await api.client.post(
        "/graphql",
        json={"query": "query { viewer { securityEvents { totalCount } } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert "boom" not in response.text
    body = response.json()
    assert [error["message"] for error in body["errors"]] == ["Unexpected error."]
    assert "boom" not in json.dumps(body)
