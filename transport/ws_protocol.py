"""uvicorn's WebSocket protocol (websockets' sans-I/O implementation, the one uvicorn picks
by itself) with a lighter receive queue.

A socket's incoming events wait in an asyncio.Queue of uvicorn's until the app reads them:
four deques and an Event, about 3 KiB per open socket, held for the socket's whole life
while it is empty nearly all the time. services.broker.Mailbox does the same job (one
reader, put_nowait, get, empty) in a list and a future.
"""

from __future__ import annotations

import sys
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from services.broker import Mailbox


class LeanWebSocketsProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Unbounded, as uvicorn's own: reading is paused by the transport, not by the queue.
        self.queue = Mailbox(sys.maxsize)  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and self.__dict__.get("response") is not None:
            # The upgrade request and its answer, headers and all (about 3 KiB), are kept
            # by uvicorn for the socket's life though nothing reads them once it is open.
            self.request = self.response = None  # type: ignore[assignment]
