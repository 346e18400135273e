"""Account.sessions, revokeSession and signOutEverywhere, through the real schema and app
(and over a real socket for the 4403 that follows the notification)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import ua_parser
from starlette.applications import Starlette

from models import RememberedDevice, SecurityEvent, Session
from schema.global_id import to_global_id
from server import create_app
from services.clock import FrozenClock
from services.settings import Settings
from tests.conftest import LiveServer, start
from tests.helpers import PASSWORD, SIGN_IN, Api, error_codes, until
from tests.test_recovery import customer, file_request, support_agent
from tests.test_subscriptions import ready
from tests.ws_client import TRANSPORT_WS, subscriber

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)

SESSIONS = """
query {
  viewer {
    sessions {
      id createdAt lastSeenAt expiresAt ipAddress userAgent deviceLabel current rememberedUntil
    }
  }
}
"""
REVOKE = """
mutation R($id: ID!) {
  revokeSession(input: {id: $id}) { account { email sessions { id } } errors { code field } }
}
"""
SIGN_OUT_EVERYWHERE = """
mutation S($keep: Boolean) {
  signOutEverywhere(input: {keepCurrent: $keep}) {
    account { sessions { id current } } errors { code field }
  }
}
"""
NODE = "query N($id: ID!) { node(id: $id) { id ... on DeviceSession { deviceLabel current } } }"
FEED = "query { viewer { notifications { edges { node { kind message } } } } }"


async def sign_in_as(api: Api, user_agent: str, email: str = "alice@example.com") -> str:
    body = await api.gql(
        SIGN_IN,
        {"input": {"email": email, "password": PASSWORD}},
        headers={"user-agent": user_agent},
    )
    token: str = body["data"]["signIn"]["session"]["token"]
    return token


async def sessions(api: Api, token: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await api.data(SESSIONS, token=token))["viewer"]["sessions"]
    return listed


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_sessions_list_the_accounts_own_with_label_current_and_end(
    api: Api, clock: FrozenClock
) -> None:
    laptop = await api.sign_up()
    await api.sign_up("bob@example.com")
    signed_in_at = clock.now()
    clock.advance(600)
    phone = await sign_in_as(api, IPHONE)
    clock.advance(600)
    firefox = await sign_in_as(api, FIREFOX)

    listed = await sessions(api, firefox)
    # Alice's three, not Bob's; most recently used first.
    assert [s["deviceLabel"] for s in listed] == [
        "Firefox on Windows",
        "Mobile Safari on iOS",
        None,
    ]
    assert [s["current"] for s in listed] == [True, False, False]
    assert listed[1]["userAgent"] == IPHONE and listed[1]["ipAddress"] == "203.0.113.7"
    assert listed[1]["rememberedUntil"] is None
    # Idle limit (2 hours) before the absolute one (14 days).
    oldest = listed[2]
    assert at(oldest["createdAt"]) == signed_in_at
    assert at(oldest["expiresAt"]) == signed_in_at + timedelta(hours=2)

    # A use moves the idle limit, never past the absolute one.
    await sessions(api, laptop)
    assert at((await sessions(api, phone))[2]["expiresAt"]) == clock.now() + timedelta(hours=2)
    assert [s["current"] for s in await sessions(api, phone)].count(True) == 1


async def test_another_accounts_session_is_not_found_nor_seen(api: Api) -> None:
    alice = await api.sign_up()
    bob = await api.sign_up("bob@example.com")
    bobs = (await sessions(api, bob))[0]["id"]
    assert (await api.data(NODE, {"id": bobs}, token=alice))["node"] is None
    assert (await api.data(NODE, {"id": bobs}, token=bob))["node"] == {
        "id": bobs,
        "deviceLabel": None,
        "current": True,
    }
    refused = (await api.data(REVOKE, {"id": bobs}, token=alice))["revokeSession"]
    assert refused["errors"] == [{"code": "NOT_FOUND", "field": ["input", "id"]}]
    not_a_session = to_global_id("Account", 1)
    refused = (await api.data(REVOKE, {"id": not_a_session}, token=alice))["revokeSession"]
    assert error_codes(refused) == ["NOT_FOUND"]
    assert await Session.filter(revoked_at__not_isnull=True).count() == 0


async def test_support_reads_a_requesters_history_but_not_their_sessions(
    api: Api, app: Starlette
) -> None:
    await customer(api)
    agent = await support_agent(api, app)
    await file_request(api, "alice@example.com")
    query = """
    query N($id: ID!) { node(id: $id) { ... on Account { email sessions { id } } } }
    """
    body = await api.gql(query, {"id": to_global_id("Account", 1)}, token=agent)
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["node", "sessions"]
    # The owner reads theirs.
    own = await api.data("query { viewer { sessions { id } } }", token=agent)
    assert len(own["viewer"]["sessions"]) == 1


async def test_revoke_session_ends_it_tells_the_account_and_records_it(api: Api) -> None:
    laptop = await api.sign_up()
    await api.sign_up("bob@example.com")
    phone = await sign_in_as(api, IPHONE)
    phone_id = next(s["id"] for s in await sessions(api, laptop) if not s["current"])

    payload = (await api.data(REVOKE, {"id": phone_id}, token=laptop))["revokeSession"]
    assert payload["errors"] == []
    assert len(payload["account"]["sessions"]) == 1
    assert (await api.gql(SESSIONS, token=phone))["data"]["viewer"] is None
    feed = (await api.data(FEED, token=laptop))["viewer"]["notifications"]["edges"]
    assert feed[0]["node"]["kind"] == "SESSIONS_REVOKED"
    events = await SecurityEvent.filter(kind="SESSION_REVOKED").values_list("account_id", flat=True)
    assert events == [1]
    # Revoking it again: it is no longer one of the account's live sessions.
    again = (await api.data(REVOKE, {"id": phone_id}, token=laptop))["revokeSession"]
    assert error_codes(again) == ["NOT_FOUND"]


async def test_sign_out_everywhere_keeps_this_session_and_forgets_remembered_devices(
    api: Api,
) -> None:
    laptop = await api.sign_up()
    bob = await api.sign_up("bob@example.com")
    phone = await sign_in_as(api, IPHONE)
    for account_id in (1, 2):
        await RememberedDevice.create(
            token_hash=f"{account_id:064d}",
            account_id=account_id,
            binding="x" * 64,
            created_at=api.clock.now(),
            expires_at=api.clock.now() + timedelta(days=30),
        )

    payload = (await api.data(SIGN_OUT_EVERYWHERE, {}, token=laptop))["signOutEverywhere"]
    assert payload["errors"] == []
    assert [s["current"] for s in payload["account"]["sessions"]] == [True]
    assert (await api.gql(SESSIONS, token=phone))["data"]["viewer"] is None
    assert await RememberedDevice.filter(account_id=1).count() == 0
    # Bob's session and device are his own.
    assert len(await sessions(api, bob)) == 1
    assert await RememberedDevice.filter(account_id=2).count() == 1

    everything = await api.data(SIGN_OUT_EVERYWHERE, {"keep": False}, token=laptop)
    assert everything["signOutEverywhere"]["errors"] == []
    assert (await api.gql(SESSIONS, token=laptop))["data"]["viewer"] is None
    kinds = await SecurityEvent.filter(account_id=1, kind="SESSION_REVOKED").count()
    assert kinds == 2


async def test_the_notification_reaches_an_open_socket_before_its_4403(
    live: LiveServer, clock: FrozenClock
) -> None:
    async with httpx.AsyncClient(
        base_url=live.url, headers={"user-agent": "verrou-tests/1.0"}
    ) as client:
        api = Api(client, clock)
        laptop = await api.sign_up()
        phone = (await api.sign_in())["session"]["token"]
        async with subscriber(live.ws_url, phone, protocol=TRANSPORT_WS) as tab:
            await until(ready(live, 1))
            payload = await api.data(SIGN_OUT_EVERYWHERE, {}, token=laptop)
            assert payload["signOutEverywhere"]["errors"] == []
            event = (await tab.next_event())["data"]["notifications"]
            assert event["kind"] == "SESSIONS_REVOKED"
            assert await tab.close_code() == 4403


async def test_user_agent_rules_are_compiled_at_start_not_in_a_sign_in(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ua-parser compiles its rules on first use (about a second of CPU): the app loads them
    while it starts, on a thread, so no request's event loop waits for them."""
    monkeypatch.delitem(vars(ua_parser), "parser", raising=False)
    async for _ in start(create_app(settings, clock=clock)):
        assert vars(ua_parser).get("parser") is not None
