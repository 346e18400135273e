"""Verrou: the Starlette application and its lifespan.

Run as a script, it is the command line (cli.py):

python server.py                      serve (same as `serve`)
python server.py serve [--workers N]
python server.py migrate
python server.py create-account EMAIL [--role …] [--company …] [--billing-email …] [--locale …]
python server.py purge-documents
python server.py purge
python server.py rotate-keys
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from tortoise import connections
from tortoise.contrib.starlette import RegisterTortoise

from schema.build import build_schema
from schema.fanout import FanOutSchema
from schema.limits import RequestLimits
from services import device_sessions, purge, recovery, recovery_schedule
from services.clock import Clock
from services.database import prepare_sqlite_file, tortoise_config
from services.outbox import OutboxWorker, transport_for
from services.runtime import Runtime, make_runtime
from services.settings import Settings
from services.var_files import tighten_tree
from transport import downloads, probes
from transport.body_limits import graphql_body_limit, graphql_json_limit
from transport.browser import VerrouStarlette, browser_middleware
from transport.graphql_http import VerrouGraphQL
from transport.metrics_listener import metrics_listener
from transport.middleware import BodySizeLimit, RequestLog
from transport.session_cookie import cookie_name
from webclient import routes as webclient_routes

logger = logging.getLogger("verrou")
# How long shutdown waits for a periodic job's pass under way before cancelling it.
STOP_GRACE_SECONDS = 10.0


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
async def every(
    interval: float, job: Callable[[], Awaitable[int]], name: str, done: str
) -> AsyncIterator[None]:
    """Run `job` at start, then every `interval` seconds, for as long as the app runs;
    `done` is the log line for a pass that did something (%d: what `job` returned)."""

    stopping = asyncio.Event()

    async def forever() -> None:
        while not stopping.is_set():
            try:
                count = await job()
            except Exception:  # the database may be away for a while: try again next time
                logger.exception("%s failed", name)
            else:
                if count:
                    logger.info(done, count)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)

    task = asyncio.create_task(forever(), name=f"verrou-{name}")
    try:
        yield
    finally:
        # A pass under way finishes its queries (cancelled mid-query, a driver may be left
        # with a lost connection's error nobody reads); a sleeping job stops at once.
        stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def periodic_purge(runtime: Runtime) -> contextlib.AbstractAsyncContextManager[None]:
    """Delete recovery documents past their retention period, now and then."""
    return every(
        runtime.settings.purge_interval_seconds,
        lambda: recovery.purge(runtime),
        "document-purge",
        "purged %d recovery document(s)",
    )


def table_purge(runtime: Runtime) -> contextlib.AbstractAsyncContextManager[None]:
    """Delete rows nothing reads any more (services/purge.py): now, then every
    PURGE_INTERVAL_SECONDS, on every process (a row two passes meet is deleted once)."""
    return every(
        runtime.settings.purge_interval_seconds,
        lambda: purge.purge(runtime),
        "table-purge",
        "purged %d stale row(s)",
    )


def recovery_job(runtime: Runtime) -> contextlib.AbstractAsyncContextManager[None]:
    """Apply recoveries whose waiting period has ended: once at start (a period may have
    ended while no process ran), then every RECOVERY_JOB_INTERVAL_SECONDS. Every process
    runs it; the conditional UPDATE in services.recovery_schedule applies each once."""
    return every(
        runtime.settings.recovery_job_interval_seconds,
        lambda: recovery_schedule.apply_due(runtime),
        "recovery-job",
        "applied %d scheduled recovery request(s)",
    )


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    settings = settings or Settings()
    runtime = make_runtime(settings, clock)
    schema = FanOutSchema(
        build_schema(
            introspection=settings.introspection_enabled,
            limits=RequestLimits.from_settings(settings),
            # "Did you mean …?" would read the schema out with introspection off.
            hide_suggestions=not settings.is_development,
        )
    )
    graphql = VerrouGraphQL(
        runtime,
        schema=schema,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        # GET is for queries only: a mutation over GET is 405 (graphql_http.py).
        allow_queries_via_get=True,
        # The recovery documents (GraphQL multipart request spec).
        multipart_uploads_enabled=True,
        # The list VerrouGraphQL.run checks first (graphql_http.py), so Strawberry's own check
        # never refuses an origin ours trusts.
        allowed_origins=sorted(settings.trusted_origins),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Files at rest are the owner's alone (services/var_files.py): what an older version
        # left readable is tightened, and SQLite's file is made 0600 before SQLite makes it.
        for folder in {settings.var_dir, settings.documents_dir}:
            tighten_tree(folder)
        prepare_sqlite_file(settings.database_url)
        # RegisterTortoise, not a bare Tortoise.init: it enables the global context fallback
        # that request tasks need under Tortoise 1.x.
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            # Connect now: a background task cancelled while it opens the connection lazily
            # leaves an unclosed aiosqlite connection behind (its thread then fails on a
            # closed event loop).
            await connections.get("default").execute_query("SELECT 1")
            if settings.webauthn_rp_id is None:
                logger.warning(
                    "PUBLIC_URL is an IP address: security keys and passkeys are off (browsers "
                    "accept them only on a host name); set PUBLIC_URL to the server's name"
                )
            if not settings.metrics_on_api_port and settings.metrics_listen is None:
                logger.warning(
                    "/metrics is off: in production set METRICS_TOKEN (a bearer token it "
                    "requires) or METRICS_ADDRESS (a listener of its own)"
                )
            # The hashing pool closes before the database does: a sign-in that is still
            # hashing finishes its queries first.
            async with runtime.passwords.serving():
                await runtime.passwords.warm_up()
                await device_sessions.load_user_agent_rules()
                async with (
                    mail_worker(runtime),
                    periodic_purge(runtime),
                    table_purge(runtime),
                    recovery_job(runtime),
                    metrics_listener(
                        settings.metrics_listen, {"runtime": runtime, "subscriptions": schema}
                    ),
                ):
                    yield
            await graphql.session_watch.close()
            await graphql.persisted.close()
            await runtime.broker.close()

    # VerrouStarlette adds the security headers (browser.py) around everything, and hands
    # the GraphQL WebSocket (both protocols) straight to its app, with its request id.
    app = VerrouStarlette(
        sockets={"/graphql": RequestLog(graphql)},
        middleware=[
            Middleware(RequestLog),
            *browser_middleware(settings, cookie_name(settings)),
            Middleware(
                BodySizeLimit,
                limit=settings.max_request_bytes,
                narrower=graphql_json_limit(
                    graphql_body_limit(
                        settings.graphql_max_document_bytes, settings.graphql_max_variables_bytes
                    )
                ),
            ),
        ],
        routes=[
            Route("/healthz", probes.healthz),
            Route("/readyz", probes.readyz),
            # On this port in development, or behind METRICS_TOKEN; else on METRICS_ADDRESS.
            *([Route("/metrics", probes.metrics)] if settings.metrics_on_api_port else []),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route(
                "/recovery-documents/{document_id:document_id}",
                downloads.recovery_document,
                methods=["GET"],
            ),
            # Web client and GraphiQL assets (webclient/).
            *webclient_routes(
                graphiql=settings.graphiql_enabled, client=settings.web_client_enabled
            ),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.subscriptions = schema
    app.state.session_watch = graphql.session_watch
    app.state.going_away = graphql.going_away
    return app


if __name__ == "__main__":
    import cli

    sys.exit(cli.main(app_factory=create_app))
