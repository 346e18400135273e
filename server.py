"""Verrou: the Starlette application, its lifespan, and the command line.

python server.py                      serve (same as `serve`)
python server.py serve [--workers N]
python server.py migrate
python server.py create-account EMAIL [--role …] [--company …] [--billing-email …] [--locale …]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from tortoise.contrib.starlette import RegisterTortoise

from resolvers.context import Context, authenticate_connection, build_context
from schema.build import build_schema
from schema.fanout import FanOutSchema
from services import accounts
from services.broker import InProcessBroker
from services.clock import Clock
from services.crypto import load_key_ring
from services.database import apply_migrations, tortoise_config
from services.errors import VerrouError
from services.outbox import OutboxWorker, transport_for
from services.passwords import Passwords
from services.runtime import Runtime
from services.settings import Settings, SettingsError

logger = logging.getLogger("verrou")


class VerrouGraphQL(GraphQL[Context, None]):
    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return await build_context(request, response, self.runtime)

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
        broker=InProcessBroker(),
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


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


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
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # RegisterTortoise, not a bare Tortoise.init: it enables the global context fallback
        # that request tasks need under Tortoise 1.x.
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            await runtime.passwords.warm_up()
            async with mail_worker(runtime):
                yield
            await runtime.broker.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.subscriptions = schema
    return app


def _serve(settings: Settings, workers: int) -> None:
    import uvicorn

    tune_garbage_collector()

    asyncio.run(apply_migrations(settings.database_url))
    uvicorn.run(
        "server:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        # Notifications are a few hundred bytes: compressing them saves nothing, and each
        # connection's zlib state would cost more memory than the rest of it.
        ws_per_message_deflate=False,
    )


def tune_garbage_collector() -> None:
    """Collect less often than CPython's default (700 allocations): with thousands of open
    subscriptions, one notification's fan-out otherwise triggers collections that walk the
    whole heap in its middle (bench/subscribers.py: 720 -> 510 ms of CPU for 5,000
    subscribers, and no more 1.4 s outliers). No gc.freeze(): it shrinks the count that
    full collections are weighed against, and made them more frequent, not less."""
    gc.set_threshold(30_000, 50, 100)


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\n")


async def _create_account(settings: Settings, args: argparse.Namespace) -> int:
    from tortoise import Tortoise

    from models.accounts import Locale, Role

    runtime = make_runtime(settings)
    await apply_migrations(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        account = await accounts.create_account(
            runtime,
            email=args.email,
            password=_read_password(),
            company_name=args.company,
            billing_contact_email=args.billing_email,
            locale=Locale(args.locale),
            role=Role(args.role),
        )
    except VerrouError as error:
        print(f"error: {error.code} ({error.message_key})", file=sys.stderr)
        return 1
    finally:
        await Tortoise.close_connections()
    print(f"created {account.role.value} account {account.email}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description="Verrou 2FA backend")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the API (the default)")
    serve.add_argument("--workers", type=int, default=1)
    commands.add_parser("migrate", help="apply the database migrations")
    create = commands.add_parser("create-account", help="create an account; password on stdin")
    create.add_argument("email")
    create.add_argument("--role", choices=["customer", "support"], default="customer")
    create.add_argument("--company")
    create.add_argument("--billing-email")
    create.add_argument("--locale", choices=["fr", "en"], default="fr")
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )

    if args.command == "migrate":
        asyncio.run(apply_migrations(settings.database_url))
        print("migrations applied")
        return 0
    if args.command == "create-account":
        return asyncio.run(_create_account(settings, args))
    _serve(settings, getattr(args, "workers", 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
