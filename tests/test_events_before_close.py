"""Events before the door closes: a notification of a change that also ends the account's
sessions reaches the open sockets before they close with 4403, over a live uvicorn and both
WebSocket protocols."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services import recovery_schedule
from services.clock import FrozenClock
from tests.conftest import LiveServer
from tests.helpers import Api, until
from tests.test_recovery import customer, file_request, resolve, support_agent
from tests.test_subscriptions import over_socket, ready
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, subscriber

__all__ = ["over_socket"]  # the fixture, used by name

PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]


def kinds(events: list[dict[str, object]]) -> list[object]:
    return [event["data"]["notifications"]["kind"] for event in events]  # type: ignore[index]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_immediate_approval_is_received_before_the_socket_closes(
    live: LiveServer, over_socket: Api, protocol: str
) -> None:
    """RECOVERY_WAIT_SECONDS=0 (the tests' default): the approval turns 2FA off at once."""
    api = over_socket
    token, _ = await customer(api)
    agent = await support_agent(api, live.app)
    request_id = await file_request(api, "alice@example.com")
    async with (
        subscriber(live.ws_url, token, protocol=protocol) as first,
        subscriber(live.ws_url, token, protocol=protocol) as second,
    ):
        await until(ready(live, 2))
        assert (await resolve(api, agent, request_id, "APPROVE"))["errors"] == []
        for socket in (first, second):
            events, code = await socket.events_until_close()
            assert code == 4403
            assert kinds(events) == ["RECOVERY_APPROVED"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_scheduled_approval_taking_effect_is_received_before_the_socket_closes(
    live: LiveServer, over_socket: Api, clock: FrozenClock, protocol: str
) -> None:
    api = over_socket
    live.app.state.runtime.settings.recovery_wait_seconds = 3600  # this app only
    token, _ = await customer(api)
    agent = await support_agent(api, live.app)
    request_id = await file_request(api, "alice@example.com")
    assert (await resolve(api, agent, request_id, "APPROVE"))["errors"] == []
    async with subscriber(live.ws_url, token, protocol=protocol) as socket:
        await until(ready(live, 1))
        clock.advance(timedelta(seconds=3600).total_seconds())
        assert await recovery_schedule.apply_due(live.app.state.runtime) == 1
        events, code = await socket.events_until_close()
        assert code == 4403
        assert kinds(events) == ["RECOVERY_APPROVED"]
