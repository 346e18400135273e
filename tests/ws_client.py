"""A minimal GraphQL-over-WebSocket client for both protocols, as a browser app would speak."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

NOTIFICATIONS = """
subscription {
  notifications {
    id kind level message createdAt readAt
    account { email twoFactor { enabled method backupCodesRemaining } }
  }
}
"""


class Subscriber:
    def __init__(self, connection: ClientConnection, protocol: str) -> None:
        self.connection = connection
        self.protocol = protocol

    async def receive(self, within: float = 5.0) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.connection.recv(), within)
        # Both protocols speak text frames: browsers' clients (graphql-ws, subscriptions-
        # transport-ws) do not read a binary one.
        assert isinstance(frame, str), f"a binary frame: {frame[:80]!r}"
        message: dict[str, Any] = json.loads(frame)
        return message

    async def init(self, payload: dict[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await self.connection.send(json.dumps(message))
        return await self.receive()

    async def subscribe(self, query: str = NOTIFICATIONS, operation_id: str = "1") -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.connection.send(
            json.dumps({"id": operation_id, "type": kind, "payload": {"query": query}})
        )

    async def close_code(self, within: float = 5.0) -> int:
        """Read (keep-alives, events) until the server closes the socket; its close code."""
        try:
            while True:
                await self.receive(within)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame from the server"
            return closed.rcvd.code

    async def events_until_close(self, within: float = 5.0) -> tuple[list[dict[str, Any]], int]:
        """Every `notifications` payload received until the server closes the socket, in
        order, and the close code."""
        events: list[dict[str, Any]] = []
        try:
            while True:
                message = await self.receive(within)
                if message["type"] in ("next", "data"):
                    events.append(message["payload"])
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame from the server"
            return events, closed.rcvd.code

    async def next_event(self, within: float = 5.0) -> dict[str, Any]:
        """The next `notifications` payload (skipping keep-alives)."""
        while True:
            message = await self.receive(within)
            if message["type"] in ("next", "data"):
                event: dict[str, Any] = message["payload"]
                return event
            if message["type"] in ("ka", "ping", "pong"):
                continue
            raise AssertionError(f"unexpected message {message}")


@asynccontextmanager
async def subscriber(
    url: str,
    token: str | None,
    *,
    protocol: str = TRANSPORT_WS,
    headers: dict[str, str] | None = None,
    query: str = NOTIFICATIONS,
) -> AsyncIterator[Subscriber]:
    """Connected, initialised (token in connection_init) and subscribed to notifications."""
    async with connect(url, subprotocols=[protocol], additional_headers=headers) as connection:  # type: ignore[list-item]
        client = Subscriber(connection, protocol)
        ack = await client.init({"authorization": f"Bearer {token}"} if token else {})
        assert ack["type"] == "connection_ack", ack
        await client.subscribe(query)
        yield client
