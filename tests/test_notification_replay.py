"""`notifications(after:)` over a real uvicorn socket: a client that reconnects with the
cursor of the newest notification it holds gets those it missed, oldest first, then live ones,
with no gap and none twice."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import connect

from services.broker import InProcessBroker
from tests.conftest import LiveServer
from tests.helpers import PASSWORD, Api, until
from tests.test_subscriptions import DISABLE, REGENERATE, broker, over_socket, ready
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, Subscriber, subscriber

__all__ = ["over_socket"]  # the fixture, shared with test_subscriptions

FEED = "query { viewer { notifications(first: 100) { edges { cursor node { id kind } } } } }"
FIELDS = "id kind account { email }"


def replaying(cursor: str) -> str:
    return f'subscription {{ notifications(after: "{cursor}") {{ {FIELDS} }} }}'


async def feed(api: Api, token: str) -> list[dict[str, Any]]:
    """The account's feed, newest first: (cursor, id, kind) of each notification."""
    edges = (await api.data(FEED, token=token))["viewer"]["notifications"]["edges"]
    return [{"cursor": e["cursor"], **e["node"]} for e in edges]


async def events(client: Subscriber, count: int) -> list[dict[str, Any]]:
    received = [(await client.next_event())["data"]["notifications"] for _ in range(count)]
    return received


async def nothing_more(client: Subscriber) -> None:
    with contextlib.suppress(TimeoutError):
        message = await client.receive(within=0.5)
        assert message["type"] in ("ka", "ping", "pong"), message


async def test_missed_notifications_are_replayed_in_order_then_live_ones_arrive(
    live: LiveServer, over_socket: Api
) -> None:
    api = over_socket
    token = await api.sign_up()
    await api.enable_two_factor(token)
    [held] = await feed(api, token)  # the newest the client holds before it goes away
    assert held["kind"] == "TWO_FACTOR_ENABLED"
    # While disconnected:
    await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
    await api.data(DISABLE, {"input": {"password": PASSWORD, "confirm": True}}, token=token)
    missed = list(reversed((await feed(api, token))[:2]))

    async with subscriber(live.ws_url, token, query=replaying(held["cursor"])) as client:
        replayed = await events(client, 2)
        assert [(e["id"], e["kind"]) for e in replayed] == [(m["id"], m["kind"]) for m in missed]
        assert [e["kind"] for e in replayed] == ["BACKUP_CODES_REGENERATED", "TWO_FACTOR_DISABLED"]
        await until(ready(live, 1))
        await api.enable_two_factor(token)
        [live_one] = await events(client, 1)
        assert live_one["kind"] == "TWO_FACTOR_ENABLED"
        assert live_one["id"] == (await feed(api, token))[0]["id"]
        await nothing_more(client)


async def test_the_cursor_may_come_as_a_variable_over_the_legacy_protocol(
    live: LiveServer, over_socket: Api
) -> None:
    api = over_socket
    token = await api.sign_up()
    await api.enable_two_factor(token)
    [held] = await feed(api, token)
    await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
    query = f"subscription S($after: String) {{ notifications(after: $after) {{ {FIELDS} }} }}"
    async with connect(live.ws_url, subprotocols=[LEGACY_WS]) as connection:  # type: ignore[list-item]
        client = Subscriber(connection, LEGACY_WS)
        assert (await client.init({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
        payload = {"query": query, "variables": {"after": held["cursor"]}}
        await connection.send(json.dumps({"id": "1", "type": "start", "payload": payload}))
        [replayed] = await events(client, 1)
        assert replayed["kind"] == "BACKUP_CODES_REGENERATED"


async def test_without_after_nothing_is_replayed(live: LiveServer, over_socket: Api) -> None:
    api = over_socket
    token = await api.sign_up()
    await api.enable_two_factor(token)
    async with subscriber(
        live.ws_url, token, query=f"subscription {{ notifications {{ {FIELDS} }} }}"
    ) as client:
        await until(ready(live, 1))
        await nothing_more(client)
        await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
        assert [e["kind"] for e in await events(client, 1)] == ["BACKUP_CODES_REGENERATED"]


async def test_replaying_subscribers_are_not_grouped_and_each_gets_its_replay(
    live: LiveServer, over_socket: Api
) -> None:
    api = over_socket
    token = await api.sign_up()
    await api.enable_two_factor(token)
    [held] = await feed(api, token)
    await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
    query = replaying(held["cursor"])
    async with subscriber(live.ws_url, token, query=query) as first:
        assert [e["kind"] for e in await events(first, 1)] == ["BACKUP_CODES_REGENERATED"]
        async with subscriber(live.ws_url, token, query=query) as second:
            # Same document, same account: a shared stream would have nothing left for it.
            assert [e["kind"] for e in await events(second, 1)] == ["BACKUP_CODES_REGENERATED"]
            await until(ready(live, 2))
            assert live.app.state.subscriptions.group_count() == 2
            await api.data(DISABLE, {"input": {"password": PASSWORD, "confirm": True}}, token=token)
            for client in (first, second):
                assert [e["kind"] for e in await events(client, 1)] == ["TWO_FACTOR_DISABLED"]
    await until(ready(live, 0))
    assert live.app.state.subscriptions.group_count() == 0


async def test_a_notification_made_between_subscribe_and_replay_is_sent_once(
    live: LiveServer, over_socket: Api
) -> None:
    api = over_socket
    token = await api.sign_up()
    await api.enable_two_factor(token)
    [held] = await feed(api, token)
    in_process: InProcessBroker = broker(live)
    original = in_process.subscribe
    armed = False

    @contextlib.asynccontextmanager
    async def subscribe_then_change(account_id: int) -> AsyncIterator[AsyncIterator[str]]:
        nonlocal armed
        async with original(account_id) as messages:
            if armed:
                armed = False
                # Subscribed, replay not read yet: the change is committed and published
                # live, and the replay will read it too.
                variables = {"input": {"password": PASSWORD}}
                await api.data(REGENERATE, variables, token=token)
            yield messages

    in_process.subscribe = subscribe_then_change  # type: ignore[method-assign]
    async with connect(live.ws_url, subprotocols=[TRANSPORT_WS]) as connection:  # type: ignore[list-item]
        client = Subscriber(connection, TRANSPORT_WS)
        assert (await client.init({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
        await until(lambda: in_process.subscriber_count() == 1)  # the session watch's
        armed = True
        await client.subscribe(replaying(held["cursor"]))
        [replayed] = await events(client, 1)
        assert not armed  # the change was made in between
        assert replayed["kind"] == "BACKUP_CODES_REGENERATED"
        assert replayed["id"] == (await feed(api, token))[0]["id"]
        await nothing_more(client)  # not a second time, live
        await api.data(DISABLE, {"input": {"password": PASSWORD, "confirm": True}}, token=token)
        assert [e["kind"] for e in await events(client, 1)] == ["TWO_FACTOR_DISABLED"]


async def test_another_accounts_cursor_replays_only_the_subscribers_own(
    live: LiveServer, over_socket: Api
) -> None:
    api = over_socket
    alice = await api.sign_up("alice@example.com")
    bob = await api.sign_up("bob@example.com")
    await api.enable_two_factor(alice)
    await api.enable_two_factor(bob)
    [bobs] = await feed(api, bob)
    await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=bob)
    await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=alice)
    async with subscriber(live.ws_url, alice, query=replaying(bobs["cursor"])) as client:
        [replayed] = await events(client, 1)
        assert replayed["account"]["email"] == "alice@example.com"
        assert replayed["kind"] == "BACKUP_CODES_REGENERATED"
        assert replayed["id"] == (await feed(api, alice))[0]["id"]
        await nothing_more(client)


async def test_a_bad_cursor_is_a_clear_error(live: LiveServer, over_socket: Api) -> None:
    token = await over_socket.sign_up("bob@example.com", locale="EN")
    async with subscriber(live.ws_url, token, query=replaying("garbage")) as client:
        message = await client.receive()
        # Not masked ("Unexpected error."): the code, the argument and a readable reason.
        assert message["type"] == "next", message
        assert message["payload"]["data"] is None
        [error] = message["payload"]["errors"]
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": ["after"]}
        assert error["message"].startswith("This cursor is not valid")
        assert (await client.receive())["type"] == "complete"


async def test_a_live_notification_carries_the_cursor_to_resume_from(
    live: LiveServer, over_socket: Api
) -> None:
    """The client keeps the newest cursor it received live, not only the feed's: after a
    reconnect with it, nothing it already has comes again."""
    api = over_socket
    token = await api.sign_up()
    query = "subscription { notifications { id kind cursor } }"
    async with subscriber(live.ws_url, token, query=query) as client:
        await until(ready(live, 1))
        await api.enable_two_factor(token)
        [received] = await events(client, 1)
    [held] = await feed(api, token)
    assert (received["id"], received["cursor"]) == (held["id"], held["cursor"])
    await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
    async with subscriber(live.ws_url, token, query=replaying(received["cursor"])) as client:
        [missed] = await events(client, 1)
        assert missed["kind"] == "BACKUP_CODES_REGENERATED"
        await nothing_more(client)
