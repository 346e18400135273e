"""What an open WebSocket keeps for its whole life, kept small (bench/README.md, memory per
socket): Verrou's ASGI layers hand a WebSocket on without a frame of their own, and a
socket's context makes its sessions-ended record only when one comes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from resolvers.context import Context
from transport.browser import CookieCsrfGuard, SecurityHeaders
from transport.middleware import BodySizeLimit, RequestLog

LAYERS: list[Callable[[Any], Callable[..., Awaitable[None]]]] = [
    SecurityHeaders,
    lambda app: CookieCsrfGuard(app, "verrou_session"),
    lambda app: BodySizeLimit(app, 1024),
    RequestLog,
]


@pytest.mark.parametrize("layer", LAYERS, ids=["headers", "csrf", "body size", "request log"])
async def test_a_websocket_is_handed_on_without_a_frame_of_the_layer(layer: Any) -> None:
    handed: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        handed.append(scope)

    scope: dict[str, Any] = {"type": "websocket", "path": "/graphql", "headers": []}
    awaitable = layer(inner)(scope, None, None)
    # The inner app's own coroutine, not one of the layer's waiting on it for the socket's life.
    assert getattr(awaitable, "cr_code", None) is inner.__code__
    await awaitable
    assert handed == [scope]


def test_a_sockets_sessions_ended_record_is_made_by_the_first_message() -> None:
    context = Context(
        request=None,  # type: ignore[arg-type]
        response=None,
        runtime=None,  # type: ignore[arg-type]
        meta=None,  # type: ignore[arg-type]
        session=None,
        locale="en",
        session_cookie=None,  # type: ignore[arg-type]
    )
    assert context.ended_seen is None
    for number in range(40):
        context.saw_ended(f"ended {number}")
    assert context.ended_seen is not None
    assert list(context.ended_seen) == [f"ended {number}" for number in range(8, 40)]
