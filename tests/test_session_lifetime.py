"""How long a bearer token lives: an idle and an absolute lifetime, sign-out, and the cost
of recording use. A stolen or forgotten token must stop working on its own."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from models import Session
from services.clock import FrozenClock
from services.settings import Settings
from tests.conftest import T0, LiveServer, make_settings
from tests.helpers import STATUS, Api
from tests.ws_client import TRANSPORT_WS

IDLE = 3600
ABSOLUTE = 6 * 3600
VIEWER = "query { viewer { email } }"
SIGN_OUT = "mutation { signOut { errors { code } } }"


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    return make_settings(
        db_path, tmp_path / "var", session_idle_seconds=IDLE, session_absolute_seconds=ABSOLUTE
    )


async def signed_in(api: Api, token: str) -> bool:
    return (await api.data(VIEWER, token=token))["viewer"] is not None


async def status_error(api: Api, token: str) -> str | None:
    body = await api.gql(STATUS, token=token)
    if "errors" not in body:
        return None
    code: str = body["errors"][0]["extensions"]["code"]
    return code


# ---------------------------------------------------------------- idle lifetime


async def test_a_session_unused_for_the_idle_lifetime_ends(api: Api) -> None:
    token = await api.sign_up()
    api.clock.advance(IDLE - 1)
    assert await signed_in(api, token)

    api.clock.advance(IDLE + 1)
    assert not await signed_in(api, token)
    assert await status_error(api, token) == "UNAUTHENTICATED"


async def test_use_keeps_a_session_alive_past_the_idle_lifetime(api: Api) -> None:
    token = await api.sign_up()
    for _ in range(5):  # five times 50 minutes: well past one idle lifetime, in use all along
        api.clock.advance(50 * 60)
        assert await signed_in(api, token)
    assert await status_error(api, token) is None


async def test_the_idle_lifetime_is_counted_from_the_last_use_not_from_sign_in(
    api: Api,
) -> None:
    token = await api.sign_up()
    api.clock.advance(IDLE - 60)
    assert await signed_in(api, token)
    api.clock.advance(IDLE - 60)
    assert await signed_in(api, token)
    api.clock.advance(IDLE + 1)
    assert not await signed_in(api, token)


# ---------------------------------------------------------------- absolute lifetime


async def test_a_session_in_constant_use_still_ends_at_its_absolute_lifetime(api: Api) -> None:
    token = await api.sign_up()
    stored = await Session.get()
    assert stored.expires_at == T0 + timedelta(seconds=ABSOLUTE)
    while api.clock.now() + timedelta(minutes=30) < stored.expires_at:
        api.clock.advance(30 * 60)
        assert await signed_in(api, token)
    api.clock.advance((stored.expires_at - api.clock.now()).total_seconds())
    assert not await signed_in(api, token)
    assert await status_error(api, token) == "UNAUTHENTICATED"


async def test_a_new_sign_in_gets_a_full_lifetime_of_its_own(api: Api) -> None:
    first = await api.sign_up()
    api.clock.advance(ABSOLUTE - 600)
    second = (await api.sign_in())["session"]["token"]
    api.clock.advance(1200)
    assert not await signed_in(api, first)
    assert await signed_in(api, second)


def test_the_session_settings_keep_their_first_name_and_default_to_14_days(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.session_absolute_seconds == 14 * 24 * 3600
    assert 30 * 60 <= defaults.session_idle_seconds <= 4 * 3600
    monkeypatch.setenv("SESSION_TTL_SECONDS", "86400")
    monkeypatch.setenv("SESSION_IDLE_SECONDS", "900")
    legacy = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (legacy.session_absolute_seconds, legacy.session_idle_seconds) == (86400, 900)
    assert legacy.session_ttl_seconds == 86400
    monkeypatch.setenv("SESSION_ABSOLUTE_SECONDS", "7200")
    assert Settings(_env_file=None).session_absolute_seconds == 7200  # type: ignore[call-arg]


# ---------------------------------------------------------------- recording use


def session_writes(caplog: pytest.LogCaptureFixture) -> int:
    return sum(
        'UPDATE "session"' in record.getMessage() or "UPDATE session" in record.getMessage()
        for record in caplog.records
    )


async def test_a_burst_of_requests_records_use_at_most_once_a_minute(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    token = await api.sign_up()
    caplog.set_level(logging.DEBUG)  # Tortoise logs every statement it sends
    for _ in range(10):
        api.clock.advance(5)
        assert await signed_in(api, token)
    assert caplog.records, "no statement was logged: the count below would prove nothing"
    assert session_writes(caplog) == 0
    assert (await Session.get()).last_seen_at == T0

    api.clock.advance(15)  # a minute after sign-in
    caplog.clear()
    await asyncio.gather(*(signed_in(api, token) for _ in range(10)))
    assert 1 <= session_writes(caplog)
    assert (await Session.get()).last_seen_at == T0 + timedelta(seconds=65)
    caplog.clear()
    for _ in range(5):
        assert await signed_in(api, token)
    assert session_writes(caplog) == 0


# ---------------------------------------------------------------- sign-out


async def test_after_sign_out_the_token_is_refused_everywhere_over_http(api: Api) -> None:
    token = await api.sign_up()
    assert (await api.data(SIGN_OUT, token=token))["signOut"]["errors"] == []
    assert not await signed_in(api, token)
    assert await status_error(api, token) == "UNAUTHENTICATED"
    assert (await api.data(SIGN_OUT, token=token))["signOut"]["errors"] == [
        {"code": "UNAUTHENTICATED"}
    ]
    assert (await Session.get()).revoked_at == T0


@pytest.fixture
async def over_socket(live: LiveServer, clock: FrozenClock) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=live.url) as client:
        yield Api(client, clock)


async def websocket_accepts(live: LiveServer, token: str) -> bool:
    """Whether a new graphql-transport-ws connection with token gets connection_ack."""
    async with connect(live.ws_url, subprotocols=[TRANSPORT_WS]) as connection:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await connection.send(json.dumps(init))
        try:
            message = json.loads(await asyncio.wait_for(connection.recv(), 5))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403
            return False
        assert message["type"] == "connection_ack", message
        return True


async def test_a_signed_out_token_cannot_open_a_new_websocket(
    live: LiveServer, over_socket: Api
) -> None:
    token = await over_socket.sign_up()
    assert await websocket_accepts(live, token)  # the same check passes before sign-out
    await over_socket.data(SIGN_OUT, token=token)
    assert not await websocket_accepts(live, token)


async def test_an_idle_expired_token_cannot_open_a_new_websocket(
    live: LiveServer, over_socket: Api
) -> None:
    token = await over_socket.sign_up()
    assert await websocket_accepts(live, token)
    over_socket.clock.advance(IDLE + 1)
    assert not await websocket_accepts(live, token)
