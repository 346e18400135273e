"""What an open WebSocket keeps for its whole life, kept small (bench/README.md, memory per
socket): Verrou's ASGI layers hand a WebSocket on without a frame of their own, the GraphQL
WebSocket skips Starlette's layers, a socket's context makes its sessions-ended record
only when one comes, and its reading loop keeps no message it has handled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from resolvers.context import Context
from services.clock import FrozenClock
from tests.conftest import LiveServer
from tests.helpers import Api, until
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, subscriber
from transport.browser import CookieCsrfGuard, SecurityHeaders, VerrouStarlette
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


def awaited_chain(coroutine: Any) -> list[Any]:
    """The code of each coroutine a suspended coroutine waits on, outermost first."""
    chain = []
    while coroutine is not None and hasattr(coroutine, "cr_code"):
        chain.append(coroutine.cr_code)
        coroutine = coroutine.cr_await
    return chain


async def test_the_graphql_websocket_passes_none_of_starlettes_layers() -> None:
    open_for_its_life = asyncio.Event()
    handed: list[Any] = []

    async def graphql(scope: Any, receive: Any, send: Any) -> None:
        handed.append(scope)
        await open_for_its_life.wait()

    async def elsewhere(websocket: WebSocket) -> None:
        handed.append(websocket.url.path)
        await open_for_its_life.wait()

    app = VerrouStarlette(
        middleware=[Middleware(CORSMiddleware, allow_origins=["https://example.com"])],
        routes=[WebSocketRoute("/other", elsewhere)],
        sockets={"/graphql": graphql},
    )
    calls, tasks = {}, []
    for path in ("/graphql", "/other"):
        scope: dict[str, Any] = {"type": "websocket", "path": path, "headers": []}
        calls[path] = app(scope, None, None)
        tasks.append(asyncio.ensure_future(calls[path]))
        await asyncio.sleep(0)
        assert not tasks[-1].done()
    # The app's own frame, then the socket's app: nothing of Starlette's in between.
    assert awaited_chain(calls["/graphql"])[1:] == [
        graphql.__code__,
        open_for_its_life.wait.__code__,
    ]
    # Any other WebSocket still goes through the middleware and the router.
    assert len(awaited_chain(calls["/other"])) > 6
    assert handed[0]["app"] is app and handed[1] == "/other"
    open_for_its_life.set()
    await asyncio.gather(*tasks)


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


def reading_loops() -> list[Any]:
    """The frames of Strawberry's `handle` (each socket's reading loop) of the open sockets."""
    frames = []
    for task in asyncio.all_tasks():
        coroutine = task.get_coro()
        while coroutine is not None and hasattr(coroutine, "cr_frame"):
            if coroutine.cr_code.co_name == "handle" and "message" in coroutine.cr_frame.f_locals:
                frames.append(coroutine.cr_frame)
            coroutine = coroutine.cr_await
    return frames


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_the_reading_loop_keeps_no_message_it_handled(
    live: LiveServer, clock: FrozenClock, protocol: str
) -> None:
    async with httpx.AsyncClient(base_url=live.url) as client:
        token = await Api(client, clock).sign_up()
    async with subscriber(live.ws_url, token, protocol=protocol):
        await until(lambda: live.app.state.subscriptions.member_count() == 1)
        [frame] = reading_loops()
        # The subscribe message, read last, is emptied once its operation has started.
        assert frame.f_locals["message"] == {}
