"""Stopping a served process: WebSockets hear 1001, and the process exits cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from starlette.types import Message
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import TEST_KEY, free_port
from tests.helpers import PASSWORD, SIGN_UP
from tests.ws_client import NOTIFICATIONS, TRANSPORT_WS
from transport.graphql_http import VerrouGraphQL

ROOT = Path(__file__).parents[1]


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "server.py", "serve", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 (our own arguments)


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one process", "two workers"])
async def test_sigterm_closes_websockets_with_going_away(
    tmp_path: Path, workers: list[str]
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite://{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path / "var"),
        "ENCRYPTION_KEYS": TEST_KEY,
        "LOG_LEVEL": "WARNING",
    }
    process = spawn(env, *workers)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as client:
            # Workers import the app and the first applies migrations: on a loaded machine
            # that takes seconds, so wait by the clock (and say so when it never comes).
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert asyncio.get_running_loop().time() < deadline, "the server never got ready"
                await asyncio.sleep(0.05)
            body = (
                await client.post(
                    "/graphql",
                    json={
                        "query": SIGN_UP,
                        "variables": {"input": {"email": "s@example.com", "password": PASSWORD}},
                    },
                )
            ).json()
            token = body["data"]["signUp"]["session"]["token"]
        async with connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=[TRANSPORT_WS]) as ws:  # type: ignore[list-item]
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": NOTIFICATIONS}})
            )
            await asyncio.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert await asyncio.to_thread(process.wait, 30) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_going_away_closes_the_others_when_a_client_has_just_gone() -> None:
    """uvicorn answers a send to a socket whose client has gone with ClientDisconnected (an
    OSError), which Starlette turns into WebSocketDisconnect: the shutdown goes on to the next
    socket, and past them all."""
    sent: list[tuple[str, Message]] = []

    def socket(name: str, gone: bool) -> WebSocket:
        async def receive() -> Message:
            return {"type": "websocket.connect"}

        async def send(message: Message) -> None:
            if gone and message["type"] == "websocket.close":
                raise OSError("client disconnected")
            sent.append((name, message))

        return WebSocket({"type": "websocket", "headers": []}, receive, send)

    sockets = [socket("gone", gone=True), socket("open", gone=False)]
    for each in sockets:
        await each.accept()
    view = SimpleNamespace(open_sockets=dict.fromkeys(sockets))
    await VerrouGraphQL.going_away(view)  # type: ignore[arg-type]
    closes = [(name, m["code"]) for name, m in sent if m["type"] == "websocket.close"]
    assert closes == [("open", 1001)]
