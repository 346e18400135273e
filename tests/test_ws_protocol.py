"""The WebSocket protocol (transport/ws_protocol.py): its write gate's senders held while the
transport is paused go on once it resumes, and one of them cancelled holds back no other; an
open socket keeps no copy of the upgrade request's headers beside the ASGI scope's, and
that without the handshake's own."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from transport.ws_protocol import LeanWebSocketsProtocol, Writable


async def test_senders_wait_while_paused_and_a_cancelled_one_does_not_stop_the_others() -> None:
    gate = Writable()
    assert gate.is_set()
    assert await asyncio.wait_for(gate.wait(), 1)  # open: no wait
    gate.clear()
    first, second, third = (asyncio.create_task(gate.wait()) for _ in range(3))
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in (first, second, third))
    second.cancel()
    await asyncio.sleep(0.01)
    assert not first.done() and not third.done()
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, third), 1) == [True, True]
    assert second.cancelled()


class Wire(asyncio.Transport):
    """What the protocol writes, and the addresses it asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


UPGRADE = (
    b"GET /graphql HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: graphql-transport-ws\r\nUser-Agent: a browser of some length\r\n"
    b"Cookie: verrou_session=not-a-real-one\r\n\r\n"
)


async def test_an_open_socket_keeps_no_copy_of_the_upgrade_requests_headers() -> None:
    seen: list[list[tuple[bytes, bytes]]] = []
    opened = asyncio.Event()
    finish = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept", "subprotocol": "graphql-transport-ws"})
        seen.append(scope["headers"])
        opened.set()
        await finish.wait()

    config = Config(app, ws=LeanWebSocketsProtocol, ws_ping_interval=None, lifespan="off")
    config.load()
    protocol = LeanWebSocketsProtocol(config, ServerState(), {})
    protocol.connection_made(Wire())
    protocol.data_received(UPGRADE)
    await asyncio.wait_for(opened.wait(), 5)
    try:
        assert protocol.transport.written.startswith(b"HTTP/1.1 101")  # type: ignore[attr-defined]
        # The app's scope keeps, for as long as the socket is open, every header but those
        # only the handshake reads.
        headers = {name.lower(): value for name, value in seen[0]}
        assert headers == {
            b"host": b"localhost",
            b"sec-websocket-protocol": b"graphql-transport-ws",
            b"user-agent": b"a browser of some length",
            b"cookie": b"verrou_session=not-a-real-one",
        }, "the headers only the handshake reads are dropped, the others kept"
        assert protocol.scope["headers"] is seen[0]
        # The instance's dict, grown past 30 keys one at a time, is copied to size.
        assert sys.getsizeof(protocol.__dict__) < 1024
        # uvicorn's copy of the request, and websockets' own (a local of its suspended
        # parser), are emptied.
        assert protocol.request is None and protocol.response is None
        parser = protocol.conn.parser
        kept = parser.gi_frame.f_locals["request"]  # type: ignore[attr-defined]
        assert kept.path == "/graphql"
        assert list(kept.headers.raw_items()) == []
        # The socket still reads what comes after the upgrade: a masked text frame.
        payload = b'{"type":"connection_init"}'
        mask = b"\x01\x02\x03\x04"
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        protocol.data_received(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        assert protocol.queue.get_nowait() == {
            "type": "websocket.receive",
            "text": payload.decode(),
        }
    finally:
        finish.set()
        protocol.connection_lost(None)
        await asyncio.sleep(0)
