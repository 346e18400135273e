"""WebSocket messages checked for their shape before Strawberry's handlers read them.

Strawberry's handlers index a message as the protocol says it is (`message["type"]`,
`message["payload"]["query"]`), so a message of another shape (a number, an object without
`type`, a `start` without an `id` or a `payload`, a `query` that is not text) raised from
inside the socket's task: the socket dropped without a close frame, and uvicorn logged
"Exception in ASGI application". Here every message is checked first:

- graphql-transport-ws: a malformed message closes the socket with 4400, as the protocol
  says (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md);
- legacy graphql-ws (subscriptions-transport-ws) has no close codes for this: a `start`
  whose `payload` is malformed gets an `error` message for its id (the socket stays, as
  with that library's own server); a message that is not an object, has no type, or a
  `start`/`stop` without a text `id`, closes the socket with 4400; an unknown type gets an
  `error` message.
"""

from __future__ import annotations

from typing import Any, cast

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from resolvers.context import Context

INVALID_MESSAGE = 4400
_TRANSPORT_TYPES = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})
_LEGACY_TYPES = frozenset({"connection_init", "connection_terminate", "start", "stop"})


def _optional(value: object, kind: type | tuple[type, ...]) -> bool:
    return value is None or isinstance(value, kind)


def payload_problem(payload: object) -> str | None:
    """What is wrong with an operation's payload ({query, variables, operationName,
    extensions}, the same in both protocols); None when it can run."""
    if not isinstance(payload, dict):
        return "`payload` must be an object"
    if not isinstance(payload.get("query"), str):
        return "`payload.query` must be a string"
    if not _optional(payload.get("variables"), dict):
        return "`payload.variables` must be an object or null"
    if not _optional(payload.get("operationName"), str):
        return "`payload.operationName` must be a string or null"
    if not _optional(payload.get("extensions"), dict):
        return "`payload.extensions` must be an object or null"
    return None


def transport_message_problem(message: object) -> str | None:
    """What is wrong with a graphql-transport-ws message; None when its handler can read it."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "a message must be an object with a string `type`"
    kind = message["type"]
    if kind not in _TRANSPORT_TYPES:
        return "unknown message type"
    if kind in ("ping", "pong", "connection_init") and not _optional(message.get("payload"), dict):
        return "`payload` must be an object or null"
    if kind in ("subscribe", "complete") and not _is_id(message.get("id")):
        return "`id` must be a non-empty string"
    if kind == "subscribe":
        return payload_problem(message.get("payload"))
    return None


def _is_id(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _emptied(message: Any) -> None:
    """Strawberry's reading loop holds the last message it read until the next one comes,
    which for a subscription's socket is for its whole life: once handled (what an operation
    needs it has taken), the message's payload and strings go."""
    if isinstance(message, dict):
        message.clear()


class CheckedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Any) -> None:
        try:
            problem = transport_message_problem(message)
            if problem is not None:
                reason = f"Invalid message: {problem}"
                await self.websocket.close(code=INVALID_MESSAGE, reason=reason)
                return
            await super().handle_message(message)
        finally:
            _emptied(message)


class CheckedLegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle_message(self, message: Any) -> None:
        try:
            await self._checked(message)
        finally:
            _emptied(message)

    async def _checked(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._refuse("a message must be an object with a string `type`")
            return
        kind = message["type"]
        if kind not in _LEGACY_TYPES:
            unknown = {"type": "error", "payload": {"message": "Unknown message type"}}
            await self.websocket.send_json(unknown)
            return
        if kind == "connection_init" and not _optional(message.get("payload"), dict):
            # Strawberry's own answer: connection_error, then a close.
            await super().handle_message(cast("OperationMessage", message))
            return
        if kind in ("start", "stop") and not _is_id(message.get("id")):
            await self._refuse("`id` must be a non-empty string")
            return
        if kind == "start" and self.connection_acknowledged:
            problem = payload_problem(message.get("payload"))
            if problem is not None:
                await self.websocket.send_json(
                    {"type": "error", "id": message["id"], "payload": {"message": problem}}
                )
                return
        await super().handle_message(cast("OperationMessage", message))

    async def _refuse(self, problem: str) -> None:
        await self.websocket.close(code=INVALID_MESSAGE, reason=f"Invalid message: {problem}")
