"""ASGI middleware of the app."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.metrics import Metrics


class RequestTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse request bodies over `limit` bytes with 413, counting as they stream in.

    Uploads are parsed to temporary files; without this, a client could fill the disk with
    one request (or lie about its length, or send it chunked). `narrower` may name a smaller
    limit for some requests (transport/body_limits.py: JSON to /graphql), checked in the
    same layer: one wrapper of receive and send per request, not two."""

    def __init__(
        self, app: ASGIApp, limit: int, narrower: Callable[[Scope, bytes], int | None] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.narrower = narrower

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)  # handed on: no frame kept per socket
        return self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = content_type = b""
        for name, value in scope["headers"]:  # the last of duplicates, as a dict of them
            if name == b"content-length":
                declared = value
            elif name == b"content-type":
                content_type = value
        narrow = self.narrower(scope, content_type) if self.narrower else None
        length = int(declared) if declared.isdigit() else None
        for limit in (self.limit, narrow):
            if limit is not None and length is not None and length > limit:
                await self._refuse(limit, scope, receive, send)
                return
        limit = min(self.limit, narrow) if narrow is not None else self.limit
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except RequestTooLarge:
            if not started:
                await self._refuse(limit, scope, receive, send)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = PlainTextResponse(f"Request body over {limit} bytes", status_code=413)
        await response(scope, receive, send)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
request_log = logging.getLogger("verrou.requests")


# New ids: 16 random hex digits drawn once per process, then a counter. Unique across
# processes and restarts (as uuid4 was) without a system call for randomness per request.
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def request_id_of(scope: Scope) -> str:
    """The client's X-Request-Id when it is a sane one, else a new id."""
    given = ""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1")  # the last of duplicates, as before
    return given if _REQUEST_ID.fullmatch(given) else new_request_id()


def record_request(
    metrics: Metrics | None,
    *,
    request_id: str,
    method: str | None,
    path: str,
    status: int | None,
    seconds: float,
    operation: str | None,
    operation_name: str | None,
    outcome: str,
    **more: object,
) -> None:
    """The log line and the metric sample of one request: an HTTP request, or an operation
    sent over a WebSocket (transport/sockets.py), alike. No metric without an operation."""
    if metrics is not None and operation is not None:
        metrics.observe_request(operation, outcome, seconds)
    request_log.info(
        "request",
        extra={
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "operation": operation,
            "operation_name": operation_name,
            "outcome": outcome,
            **more,
        },
    )


class RequestLog:
    """One JSON log line and one metric sample per HTTP request, with a request id.

    The path is logged without its query string: a signed download link carries its
    signature there. A WebSocket gets an id here too (its upgrade's X-Request-Id, or a new
    one): each operation on it is logged and counted as a request of its own, naming the
    socket's id (transport/sockets.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket":
            scope.setdefault("state", {})["request_id"] = request_id_of(scope)
        if scope["type"] != "http":
            return self.app(scope, receive, send)  # handed on: no frame kept per socket
        return self._logged(scope, receive, send)

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def identified_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, identified_send)
        finally:
            seconds = time.perf_counter() - started
            operation = state.get("graphql_operation")
            outcome = state.get("graphql_outcome") or ("ok" if status < 400 else "error")
            if operation is None and scope["path"] == "/graphql" and scope["method"] == "POST":
                # Refused before an operation existed (unparsable, or no query at all).
                operation, outcome = "invalid", "rejected"
            record_request(
                scope["app"].state.runtime.metrics if scope["path"] == "/graphql" else None,
                request_id=request_id,
                method=scope.get("method"),
                path=scope["path"],
                status=status,
                seconds=seconds,
                operation=operation,
                operation_name=state.get("graphql_operation_name"),
                outcome=outcome,
            )
