"""Health, readiness and metrics: the routes an orchestrator and a scraper call."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from services import database, outbox
from services.runtime import Runtime

logger = logging.getLogger("verrou.probes")


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """200 when the database (and Redis, when configured) answer; 503 otherwise."""
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, str] = {}
    try:
        await database.ping()
        checks["database"] = "ok"
    except Exception as error:  # any failure means not ready; the reason goes to the log
        logger.warning("readiness: database unavailable (%s)", type(error).__name__)
        checks["database"] = "unavailable"
    ping = getattr(runtime.broker, "ping", None)
    if ping is not None:
        try:
            await ping()
            checks["broker"] = "ok"
        except OSError as error:
            logger.warning("readiness: broker unavailable (%s)", type(error).__name__)
            checks["broker"] = "unavailable"
    ready = all(state == "ok" for state in checks.values())
    return JSONResponse(checks, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    gauges = {
        "verrou_open_subscriptions": (
            "Open GraphQL subscriptions on this process.",
            float(request.app.state.subscriptions.member_count()),
        ),
        "verrou_outbox_pending": (
            "Emails waiting to be sent.",
            float(await outbox.pending_count()),
        ),
        "verrou_outbox_failed": (
            "Emails given up on after 24 hours.",
            float(await outbox.failed_count()),
        ),
    }
    return PlainTextResponse(
        runtime.metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
