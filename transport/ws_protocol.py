"""uvicorn's WebSocket protocol (websockets' sans-I/O implementation, the one uvicorn picks
by itself) with a lighter receive queue and write gate.

A socket's incoming events wait in an asyncio.Queue of uvicorn's until the app reads them:
four deques and an Event, about 3 KiB per open socket, held for the socket's whole life
while it is empty nearly all the time. services.broker.Mailbox does the same job (one
reader, put_nowait, get, empty) in a list and a future.

Once the socket is open, what only the upgrade needed goes: uvicorn's and websockets' copies
of the upgrade request, the scope's handshake headers, and the slack of the instance's dict.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from services.broker import Mailbox

# Request headers that only the upgrade itself reads.
_HANDSHAKE = frozenset(
    (
        b"connection",
        b"upgrade",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
    )
)


class Writable:
    """asyncio.Event's part the protocol uses for flow control (`set`, `clear`, `is_set`,
    `wait`), without the deque an Event keeps for its waiters: a future while one waits."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = True
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            # Shielded: several senders may wait on the one future, and one of them being
            # cancelled must not cancel it for the others.
            await asyncio.shield(self._waiter)
        return True


class LeanWebSocketsProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Unbounded, as uvicorn's own: reading is paused by the transport, not by the queue.
        self.queue = Mailbox(sys.maxsize)  # type: ignore[assignment]
        # Set until the transport asks to pause writing, as uvicorn's own.
        self.writable = Writable()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and self.__dict__.get("response") is not None:
            # The upgrade request and its answer, headers and all (about 3 KiB), are kept
            # by uvicorn for the socket's life though nothing reads them once it is open.
            # websockets' parser keeps the request too (a local of its suspended `parse`
            # generator, about 2.5 KiB of headers): emptied here, since the ASGI scope has
            # its own copy of the headers.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]
            # Headers only the handshake reads, out of the scope's list (the same list
            # Starlette's WebSocket reads, so changed in place).
            headers = cast(list[tuple[bytes, bytes]], self.scope["headers"])  # uvicorn's list
            headers[:] = [header for header in headers if header[0].lower() not in _HANDSHAKE]
            # uvicorn's instance has over 30 attributes, past the key sharing of instance
            # dicts: each has its own table, grown in steps to 1.5 KiB. A copy is made to
            # size, about half.
            self.__dict__ = dict(self.__dict__)
