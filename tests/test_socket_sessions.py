"""One socket, one session (issue 14, item 2), over a real uvicorn and both protocols.

A socket is signed in once, by its first `connection_init`; a second one closes it (4429).
Its operations stop with its session however that session ends: signed out, ended by an
approved recovery, revoked while no broker message went out, or idle. Each operation the
socket starts is a use of the session, as an HTTP request is; keep-alives are not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models import Session
from services.clock import FrozenClock
from services.settings import Settings
from tests.conftest import LiveServer, make_settings
from tests.helpers import Api, until
from tests.test_recovery import customer, file_request, resolve, support_agent
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, Subscriber, subscriber

IDLE = 3600
PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
VIEWER = "query Me { viewer { email } }"
SIGN_OUT = "mutation { signOut { errors { code } } }"


@pytest.fixture
def check_seconds() -> float:
    """SOCKET_SESSION_CHECK_SECONDS: small, so a test sees a check within moments."""
    return 0.05


@pytest.fixture
def settings(db_path: Path, tmp_path: Path, check_seconds: float) -> Settings:
    return make_settings(
        db_path,
        tmp_path / "var",
        session_idle_seconds=IDLE,
        socket_session_check_seconds=check_seconds,
    )


@pytest.fixture
async def over_socket(live: LiveServer, clock: FrozenClock) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=live.url) as client:
        yield Api(client, clock)


def watched(live: LiveServer, accounts: int) -> Any:
    """The sockets of `accounts` accounts are watched, and each has its subscription running
    (its `subscribe` is a use of the session: it must come before the clock moves)."""
    return lambda: (
        live.app.state.session_watch.account_count() == accounts
        and live.app.state.subscriptions.member_count() == accounts
    )


async def ask(
    client: Subscriber, query: str, operation_id: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run a query or mutation over graphql-transport-ws: its one result (events of the
    socket's subscription are skipped)."""
    payload = {"query": query, "variables": variables or {}}
    message = {"id": operation_id, "type": "subscribe", "payload": payload}
    await client.connection.send(json.dumps(message))
    result: dict[str, Any] | None = None
    while True:
        message = await client.receive()
        if message.get("id") != operation_id:
            continue
        if message["type"] in ("next", "data"):
            result = message["payload"]
        elif message["type"] == "error":
            return {"errors": message["payload"]}
        elif message["type"] == "complete":
            assert result is not None, "completed without a result"
            return result


async def use_socket(live: LiveServer, client: Subscriber, operation_id: str) -> None:
    """One operation started on the socket, seen through: over graphql-transport-ws a query;
    over the legacy protocol (subscriptions only) a second subscription, then its `stop`."""
    if client.protocol == TRANSPORT_WS:
        answer = await ask(client, VIEWER, operation_id)
        assert answer["data"]["viewer"]["email"] == "alice@example.com", answer
        return
    members = live.app.state.subscriptions.member_count
    await client.subscribe(operation_id=operation_id)
    await until(lambda: members() == 2)
    await client.connection.send(json.dumps({"id": operation_id, "type": "stop"}))
    await until(lambda: members() == 1)


async def send_init(client: Subscriber, token: str) -> None:
    payload = {"authorization": f"Bearer {token}"}
    await client.connection.send(json.dumps({"type": "connection_init", "payload": payload}))


# ---------------------------------------------------------------- one connection_init


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("whose", ["another account's", "the same"])
async def test_a_second_connection_init_closes_the_socket_with_4429(
    live: LiveServer, over_socket: Api, protocol: str, whose: str
) -> None:
    alice = await over_socket.sign_up("alice@example.com")
    bob = await over_socket.sign_up("bob@example.com")
    second = bob if whose == "another account's" else alice
    async with subscriber(live.ws_url, alice, protocol=protocol) as client:
        await until(watched(live, 1))
        await use_socket(live, client, "me")

        await send_init(client, second)

        events, code = await client.events_until_close()
    assert code == 4429
    assert events == []
    await until(watched(live, 0))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_refused_second_init_leaves_no_subscription_behind_a_signed_out_session(
    live: LiveServer, over_socket: Api, protocol: str
) -> None:
    """The attack as filed: Alice's subscription, Bob's token as a second init, then Alice
    signs out. Her events must not reach the socket, which is gone."""
    alice = await over_socket.sign_up("alice@example.com")
    bob = await over_socket.sign_up("bob@example.com")
    async with subscriber(live.ws_url, alice, protocol=protocol) as client:
        await until(watched(live, 1))
        await send_init(client, bob)
        assert await client.close_code() == 4429
    await over_socket.data(SIGN_OUT, token=alice)
    alice_again = (await over_socket.sign_in("alice@example.com"))["session"]["token"]
    await over_socket.enable_two_factor(alice_again)
    await until(lambda: live.app.state.subscriptions.member_count() == 0)


# ---------------------------------------------------------------- sessions that end


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_signing_out_closes_the_socket_on_both_protocols(
    live: LiveServer, over_socket: Api, protocol: str
) -> None:
    token = await over_socket.sign_up()
    async with subscriber(live.ws_url, token, protocol=protocol) as client:
        await until(watched(live, 1))
        assert (await over_socket.data(SIGN_OUT, token=token))["signOut"]["errors"] == []
        assert await client.close_code() == 4403


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_approved_recovery_closes_the_socket_on_both_protocols(
    live: LiveServer, over_socket: Api, protocol: str
) -> None:
    token, _ = await customer(over_socket)
    request_id = await file_request(over_socket, "alice@example.com")
    agent = await support_agent(over_socket, live.app)
    async with subscriber(live.ws_url, token, protocol=protocol) as client:
        await until(watched(live, 1))
        assert (await resolve(over_socket, agent, request_id, "APPROVE"))["errors"] == []
        assert await client.close_code() == 4403


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_session_revoked_without_a_broker_message_closes_at_the_next_check(
    live: LiveServer, over_socket: Api, clock: FrozenClock, protocol: str
) -> None:
    """As when Redis was away while signOut ran: the database says the session ended."""
    token = await over_socket.sign_up()
    async with subscriber(live.ws_url, token, protocol=protocol) as client:
        await until(watched(live, 1))
        await Session.all().update(revoked_at=clock.now())
        assert await client.close_code() == 4403
    await until(watched(live, 0))


@pytest.mark.parametrize("check_seconds", [3600.0])
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_operation_started_after_the_session_ended_is_refused_with_4403(
    live: LiveServer, over_socket: Api, clock: FrozenClock, protocol: str
) -> None:
    """Between two checks, starting an operation is itself the check."""
    token = await over_socket.sign_up()
    async with subscriber(live.ws_url, token, protocol=protocol) as client:
        await until(watched(live, 1))
        await use_socket(live, client, "before")
        await Session.all().update(revoked_at=clock.now())

        await client.subscribe(operation_id="after")
        events, code = await client.events_until_close()
    assert code == 4403
    assert events == []


# ---------------------------------------------------------------- the idle lifetime


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_left_idle_closes_at_its_sessions_idle_deadline(
    live: LiveServer, over_socket: Api, clock: FrozenClock, protocol: str
) -> None:
    token = await over_socket.sign_up()
    async with subscriber(live.ws_url, token, protocol=protocol) as client:
        await until(watched(live, 1))
        clock.advance(IDLE - 60)
        # Keep-alives are no use of the session.
        if protocol == TRANSPORT_WS:
            await client.connection.send(json.dumps({"type": "ping"}))
            assert (await client.receive())["type"] == "pong"
        await asyncio.sleep(0.3)  # several checks
        assert live.app.state.session_watch.account_count() == 1  # still open before it

        clock.advance(61)
        assert await client.close_code() == 4403
    assert (await over_socket.gql(VIEWER, token=token))["data"]["viewer"] is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_in_use_keeps_its_session_alive_past_the_idle_lifetime(
    live: LiveServer, over_socket: Api, clock: FrozenClock, protocol: str
) -> None:
    token = await over_socket.sign_up()
    async with subscriber(live.ws_url, token, protocol=protocol) as client:
        await until(watched(live, 1))
        # Five times 50 minutes, an operation each time: over four idle lifetimes in use.
        for step in range(5):
            clock.advance(50 * 60)
            await use_socket(live, client, f"op{step}")
        assert live.app.state.session_watch.account_count() == 1
        # The socket's use is the session's: HTTP sees it alive too.
        assert (await over_socket.data(VIEWER, token=token))["viewer"] is not None

        # Then idle: it ends like any other.
        clock.advance(IDLE + 1)
        assert await client.close_code() == 4403
