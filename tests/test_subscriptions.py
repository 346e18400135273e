"""Live notifications over a real uvicorn socket, with a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from models import Session
from schema.fanout import FanOutSchema
from services.broker import InProcessBroker
from services.clock import FrozenClock
from tests.conftest import LiveServer
from tests.helpers import PASSWORD, Api, until
from tests.test_recovery import customer, file_request, resolve, support_agent
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, Subscriber, subscriber

REGENERATE = """
mutation R($input: RegenerateBackupCodesInput!) {
  regenerateBackupCodes(input: $input) { errors { code } }
}
"""
DISABLE = """
mutation D($input: DisableTwoFactorInput!) {
  disableTwoFactor(input: $input) { errors { code } }
}
"""


def ready(live: LiveServer, members: int) -> Callable[[], bool]:
    """Every subscription is registered and its group (and the session watch) listens to
    the broker."""
    fanout: FanOutSchema = live.app.state.subscriptions

    def check() -> bool:
        # Besides the groups, the session watch listens once per account with open sockets.
        watched = live.app.state.session_watch.account_count()
        return (
            fanout.member_count() == members
            and broker(live).subscriber_count() == fanout.group_count() + watched
        )

    return check


def broker(live: LiveServer) -> InProcessBroker:
    runtime_broker = live.app.state.runtime.broker
    assert isinstance(runtime_broker, InProcessBroker)
    return runtime_broker


@pytest.fixture
async def over_socket(live: LiveServer, clock: FrozenClock) -> AsyncIterator[Api]:
    """The API over the same real socket the WebSocket clients use."""
    headers = {"user-agent": "verrou-tests/1.0"}
    async with httpx.AsyncClient(base_url=live.url, headers=headers) as client:
        yield Api(client, clock)


async def test_every_open_session_of_the_account_receives_the_event(
    live: LiveServer, over_socket: Api
) -> None:
    api = over_socket
    laptop = await api.sign_up()
    phone = (await api.sign_in())["session"]["token"]
    async with (
        subscriber(live.ws_url, laptop, protocol=TRANSPORT_WS) as first,
        subscriber(live.ws_url, phone, protocol=LEGACY_WS) as second,
    ):
        await until(ready(live, 2))
        await api.enable_two_factor(laptop)
        for client in (first, second):
            event = (await client.next_event())["data"]["notifications"]
            assert event["kind"] == "TWO_FACTOR_ENABLED"
            assert event["level"] == "SUCCESS"
            assert event["message"]
            # A client cache refreshes its 2FA status from the event alone.
            assert event["account"]["twoFactor"] == {
                "enabled": True,
                "method": "TOTP",
                "backupCodesRemaining": 10,
            }


async def test_another_account_receives_nothing(live: LiveServer, over_socket: Api) -> None:
    api = over_socket
    alice = await api.sign_up("alice@example.com")
    bob = await api.sign_up("bob@example.com")
    async with subscriber(live.ws_url, bob) as bobs:
        await until(ready(live, 1))
        await api.enable_two_factor(alice)
        await api.enable_two_factor(bob)
        # Bob's first event is his own: Alice's never reached him.
        event = (await bobs.next_event())["data"]["notifications"]
        assert event["account"]["email"] == "bob@example.com"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_each_change_is_pushed_with_its_kind_and_level(
    live: LiveServer, over_socket: Api, protocol: str
) -> None:
    api = over_socket
    token = await api.sign_up()
    async with subscriber(live.ws_url, token, protocol=protocol) as client:
        await until(ready(live, 1))
        enabled = await api.enable_two_factor(token)
        assert await kind_and_level(client) == ("TWO_FACTOR_ENABLED", "SUCCESS")

        await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
        assert await kind_and_level(client) == ("BACKUP_CODES_REGENERATED", "SUCCESS")

        await api.data(DISABLE, {"input": {"password": PASSWORD, "confirm": True}}, token=token)
        assert await kind_and_level(client) == ("TWO_FACTOR_DISABLED", "SUCCESS")
        assert enabled.secret  # the setup happened through the same socket


async def test_backup_code_use_warns_and_warns_again_when_few_remain(
    live: LiveServer, over_socket: Api
) -> None:
    api = over_socket
    token = await api.sign_up()
    async with subscriber(live.ws_url, token) as client:
        await until(ready(live, 1))
        enabled = await api.enable_two_factor(token)
        await kind_and_level(client)
        for used, code in enumerate(enabled.backup_codes[:8], start=1):
            verified = await api.verify(await api.challenge(), code)
            assert verified["backupCodesRemaining"] == 10 - used
            event = (await client.next_event())["data"]["notifications"]
            assert (event["kind"], event["level"]) == ("BACKUP_CODE_USED", "WARNING")
            assert event["account"]["twoFactor"]["backupCodesRemaining"] == 10 - used
        # 2 left after the eighth: that use also says the codes are running low.
        assert await kind_and_level(client) == ("BACKUP_CODES_LOW", "WARNING")


async def kind_and_level(client: Subscriber) -> tuple[str, str]:
    event = (await client.next_event())["data"]["notifications"]
    return event["kind"], event["level"]


async def test_token_in_the_upgrade_request_header_also_signs_in(
    live: LiveServer, over_socket: Api
) -> None:
    token = await over_socket.sign_up()
    headers = {"Authorization": f"Bearer {token}"}
    async with subscriber(live.ws_url, None, headers=headers) as client:
        await until(ready(live, 1))
        await over_socket.enable_two_factor(token)
        assert await kind_and_level(client) == ("TWO_FACTOR_ENABLED", "SUCCESS")


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
async def test_transport_ws_without_a_session_is_closed_4403(
    live: LiveServer, token: str | None
) -> None:
    async with connect(live.ws_url, subprotocols=[TRANSPORT_WS]) as connection:  # type: ignore[list-item]
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await connection.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403
    assert broker(live).subscriber_count() == 0


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
async def test_legacy_ws_without_a_session_gets_connection_error_then_close(
    live: LiveServer, token: str | None
) -> None:
    async with connect(live.ws_url, subprotocols=[LEGACY_WS]) as connection:  # type: ignore[list-item]
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await connection.send(json.dumps({"type": "connection_init", "payload": payload}))
        message = json.loads(await asyncio.wait_for(connection.recv(), 5))
        assert message["type"] == "connection_error"
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(connection.recv(), 5)


async def test_a_disconnected_subscriber_leaves_nothing_behind(
    live: LiveServer, over_socket: Api
) -> None:
    token = await over_socket.sign_up()
    tasks_before = len(asyncio.all_tasks())
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        async with subscriber(live.ws_url, token, protocol=protocol):
            await until(ready(live, 1))
        await until(ready(live, 0))
    assert broker(live)._channels == {}
    assert live.app.state.subscriptions.group_count() == 0
    await until(lambda: len(asyncio.all_tasks()) <= tasks_before)


async def test_subscribers_with_different_selections_each_get_their_own_answer(
    live: LiveServer, over_socket: Api
) -> None:
    token = await over_socket.sign_up()
    narrow = "subscription { notifications { kind } }"
    wide = "subscription { notifications { level account { email } } }"
    async with (
        subscriber(live.ws_url, token, query=narrow) as first,
        subscriber(live.ws_url, token, query=wide) as second,
        subscriber(live.ws_url, token, query=narrow) as third,
    ):
        await until(ready(live, 3))
        await over_socket.enable_two_factor(token)
        assert (await first.next_event())["data"] == {
            "notifications": {"kind": "TWO_FACTOR_ENABLED"}
        }
        assert (await second.next_event())["data"] == {
            "notifications": {"level": "SUCCESS", "account": {"email": "alice@example.com"}}
        }
        assert (await third.next_event())["data"] == {
            "notifications": {"kind": "TWO_FACTOR_ENABLED"}
        }


async def test_one_member_leaving_keeps_the_others_served(
    live: LiveServer, over_socket: Api
) -> None:
    token = await over_socket.sign_up()
    async with subscriber(live.ws_url, token) as staying:
        async with subscriber(live.ws_url, token):
            await until(ready(live, 2))
            assert live.app.state.subscriptions.group_count() == 1  # one shared stream
        await until(ready(live, 1))
        await over_socket.enable_two_factor(token)
        assert await kind_and_level(staying) == ("TWO_FACTOR_ENABLED", "SUCCESS")


async def test_queries_over_the_socket_are_answered_each_on_their_own(
    live: LiveServer, over_socket: Api
) -> None:
    token = await over_socket.sign_up()
    async with connect(live.ws_url, subprotocols=[TRANSPORT_WS]) as connection:  # type: ignore[list-item]
        client = Subscriber(connection, TRANSPORT_WS)
        assert (await client.init({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
        for operation_id in ("a", "b"):
            await client.subscribe("{ viewer { email } }", operation_id)
            answer = await client.receive()
            assert answer == {
                "id": operation_id,
                "type": "next",
                "payload": {"data": {"viewer": {"email": "alice@example.com"}}},
            }
            assert (await client.receive())["type"] == "complete"
    assert live.app.state.subscriptions.group_count() == 0


SIGN_OUT = "mutation { signOut { errors { code } } }"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_signing_out_closes_that_sessions_sockets_and_only_those(
    live: LiveServer, over_socket: Api, protocol: str
) -> None:
    api = over_socket
    laptop = await api.sign_up()
    phone = (await api.sign_in())["session"]["token"]
    async with (
        subscriber(live.ws_url, laptop, protocol=protocol) as ended,
        subscriber(live.ws_url, phone, protocol=protocol) as kept,
    ):
        await until(ready(live, 2))
        assert (await api.data(SIGN_OUT, token=laptop))["signOut"]["errors"] == []
        assert await ended.close_code() == 4403
        # The other session's socket stays, and still hears the account's events.
        await until(ready(live, 1))
        await api.enable_two_factor(phone)
        event = (await kept.next_event())["data"]["notifications"]
        assert event["kind"] == "TWO_FACTOR_ENABLED"


async def test_an_approved_recovery_closes_every_socket_of_the_account(
    live: LiveServer, over_socket: Api
) -> None:
    """Approval ends every session of the account (tests/test_recovery.py): the sockets
    they opened close too (the approval's own event may or may not make it first)."""
    api = over_socket
    token, _ = await customer(api)
    request_id = await file_request(api, "alice@example.com")
    agent = await support_agent(api, live.app)
    async with subscriber(live.ws_url, token) as customers_socket:
        await until(ready(live, 1))
        assert (await resolve(api, agent, request_id, "APPROVE"))["errors"] == []
        assert await customers_socket.close_code() == 4403


async def test_a_socket_closes_when_its_session_reaches_its_absolute_lifetime(
    live: LiveServer, over_socket: Api, clock: FrozenClock
) -> None:
    token = await over_socket.sign_up()
    # A session one second from its end (as if signed in 14 days ago).
    await Session.all().update(expires_at=clock.now() + timedelta(seconds=1))
    async with subscriber(live.ws_url, token) as client:
        assert await client.close_code() == 4403
    await until(ready(live, 0))
