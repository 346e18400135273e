"""Health, readiness and metrics: the routes an orchestrator and a scraper call."""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from services import database, outbox
from services.runtime import Runtime
from services.settings import Settings
from transport.context import bearer_token

logger = logging.getLogger("verrou.probes")

# The outbox gauges count emails older than this: a queue that drains is no news, and an
# email queued a moment ago may be a password reset link, which exists for known emails only
# (counted at once, the gauge would tell anyone watching which emails have accounts).
OUTBOX_GAUGE_AGE = timedelta(minutes=10)


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


def may_read_metrics(request: Request, settings: Settings) -> bool:
    """With METRICS_TOKEN, only `Authorization: Bearer <token>` reads /metrics (compared in
    constant time); without it, whoever reaches the route (see Settings.metrics_on_api_port)."""
    if settings.metrics_token is None:
        return True
    given = bearer_token(request.headers.get("authorization"))
    expected = settings.metrics_token.get_secret_value()
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if not may_read_metrics(request, runtime.settings):
        return PlainTextResponse(
            "/metrics requires Authorization: Bearer <METRICS_TOKEN>",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    queued_before = runtime.clock.now() - OUTBOX_GAUGE_AGE
    gauges = {
        "verrou_open_subscriptions": (
            "Open GraphQL subscriptions on this process.",
            float(request.app.state.subscriptions.member_count()),
        ),
        "verrou_outbox_pending": (
            "Emails queued over 10 minutes ago and still waiting to be sent.",
            float(await outbox.pending_count(queued_before=queued_before)),
        ),
        "verrou_outbox_failed": (
            "Emails given up on after 24 hours.",
            float(await outbox.failed_count()),
        ),
    }
    return PlainTextResponse(
        runtime.metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
