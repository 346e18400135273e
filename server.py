"""Verrou: the Starlette application and its lifespan.

Run as a script, it is the command line (cli.py):

python server.py                      serve (same as `serve`)
python server.py serve [--workers N]
python server.py migrate
python server.py create-account EMAIL [--role …] [--company …] [--billing-email …] [--locale …]
python server.py purge-documents
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET
from tortoise.contrib.starlette import RegisterTortoise

import request_json
from middleware import BodySizeLimit, RequestLog
from resolvers import downloads, probes
from resolvers.context import Context, authenticate_connection, build_context
from schema.build import build_schema
from schema.fanout import FanOutSchema
from services import recovery
from services.broker import InProcessBroker
from services.clock import Clock
from services.crypto import load_key_ring
from services.database import tortoise_config
from services.outbox import OutboxWorker, transport_for
from services.passwords import Passwords
from services.redis_broker import RedisBroker
from services.runtime import Runtime
from services.settings import Settings

logger = logging.getLogger("verrou")


class VerrouGraphQL(GraphQL[Context, None]):
    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self.open_sockets: set[WebSocket] = set()

    def decode_json(self, data: str | bytes) -> object:
        # Lone surrogates and deep nesting are the client's bad JSON (400), not a crash.
        return request_json.decode(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return await build_context(request, response, self.runtime)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if isinstance(request, WebSocket):
            self.open_sockets.add(request)
        try:
            return await super().run(request, context, root_value)
        finally:
            self.open_sockets.discard(request)
            # Strawberry leaves a parsed multipart form open: close its spooled upload files.
            if isinstance(request, Request):
                await request.close()

    async def going_away(self) -> None:
        """Close every WebSocket with 1001 (going away), so clients reconnect elsewhere."""
        for socket in list(self.open_sockets):
            with contextlib.suppress(RuntimeError, OSError):  # already closing or closed
                await socket.close(code=1001, reason="server shutting down")

    async def on_ws_connect(self, context: Context) -> None:
        if not await authenticate_connection(context):
            # graphql-transport-ws closes with 4403; legacy graphql-ws sends
            # connection_error, then closes.
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": "Unauthorized"})


def make_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    return Runtime(
        settings=settings,
        clock=clock or Clock(),
        keys=load_key_ring(
            settings.encryption_keys.get_secret_value(),
            settings.var_dir,
            development=settings.is_development,
        ),
        passwords=Passwords(settings),
        broker=RedisBroker(settings.redis_url) if settings.redis_url else InProcessBroker(),
    )


@contextlib.asynccontextmanager
async def mail_worker(runtime: Runtime) -> AsyncIterator[None]:
    """Deliver the outbox for as long as the app runs; rows left unsent wait in the
    database for the next process."""
    if not runtime.settings.outbox_worker:
        yield
        return
    worker = OutboxWorker(runtime, transport_for(runtime.settings))
    task = asyncio.create_task(worker.run(), name="verrou-mail-worker")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def periodic_purge(runtime: Runtime) -> AsyncIterator[None]:
    """Delete recovery documents past their retention period, now and then."""

    async def purge_forever() -> None:
        while True:
            try:
                removed = await recovery.purge(runtime)
            except Exception:  # the database may be away for a while: try again next time
                logger.exception("document purge failed")
            else:
                if removed:
                    logger.info("purged %d recovery document(s)", removed)
            await asyncio.sleep(runtime.settings.purge_interval_seconds)

    task = asyncio.create_task(purge_forever(), name="verrou-document-purge")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    settings = settings or Settings()
    runtime = make_runtime(settings, clock)
    schema = FanOutSchema(build_schema(introspection=settings.introspection_enabled))
    graphql = VerrouGraphQL(
        runtime,
        schema=schema,  # type: ignore[arg-type]
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        # GET is for queries only; Strawberry refuses mutations over GET.
        allow_queries_via_get=True,
        # The recovery documents (GraphQL multipart request spec).
        multipart_uploads_enabled=True,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # RegisterTortoise, not a bare Tortoise.init: it enables the global context fallback
        # that request tasks need under Tortoise 1.x.
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            await runtime.passwords.warm_up()
            async with mail_worker(runtime), periodic_purge(runtime):
                yield
            await runtime.broker.close()

    app = Starlette(
        middleware=[
            Middleware(RequestLog),
            Middleware(BodySizeLimit, limit=settings.max_request_bytes),
        ],
        routes=[
            Route("/healthz", probes.healthz),
            Route("/readyz", probes.readyz),
            Route("/metrics", probes.metrics),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route(
                "/recovery-documents/{document_id:document_id}",
                downloads.recovery_document,
                methods=["GET"],
            ),
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.subscriptions = schema
    app.state.going_away = graphql.going_away
    return app


if __name__ == "__main__":
    from cli import main

    sys.exit(main())
