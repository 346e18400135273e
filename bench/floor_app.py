"""The "floor" for bench/status.py: the same 2FA status lookup, without GraphQL.

    DATABASE_URL=sqlite://… .venv/bin/python -m uvicorn bench.floor_app:app --port N

A plain Starlette + Tortoise app on Verrou's own models and database, doing the lookup
Verrou does, in one statement as Verrou does: the live session by SHA-256 of its bearer
token, joined to its account and the account's TwoFactor row, with the count of its unused
backup codes as a sub-select; then the JSON that `{ twoFactorStatus { enabled
backupCodesRemaining } }` answers. Anything GraphQL costs on top of this is overhead.

FLOOR_LOOKUP=orm (the default) builds that statement with Tortoise's query builder, as a
plain Tortoise endpoint would; FLOOR_LOOKUP=sql runs Verrou's own hand-written statement
(services/session_lookup.py), so that only GraphQL and Verrou's HTTP layer separate the two.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from tortoise.contrib.starlette import RegisterTortoise
from tortoise.expressions import RawSQL, Subquery
from tortoise.functions import Count

from models import BackupCode, Session, TwoFactor
from models.two_factor import TwoFactorState
from services import session_lookup
from services.database import tortoise_config

IDLE = timedelta(hours=2)
UNAUTHENTICATED = {"errors": [{"message": "Unauthorized"}], "data": None}


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def live_session(token: str) -> Session | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    unused = Subquery(
        BackupCode.filter(account_id=RawSQL('"session"."account_id"'), used_at=None)
        .annotate(unused=Count("id"))
        .values("unused")
    )
    return (
        await Session.filter(token_hash=digest, revoked_at=None, expires_at__gt=datetime.now(UTC))
        .select_related("account", "account__two_factor")
        .annotate(**{session_lookup.UNUSED_CODES: unused})
        .first()
    )


async def same_sql_session(token: str) -> Session | None:
    now = datetime.now(UTC)
    digest = hashlib.sha256(token.encode()).hexdigest()
    return await session_lookup.live_session(digest, now, idle_since=now - IDLE)


LOOKUP = same_sql_session if os.environ.get("FLOOR_LOOKUP") == "sql" else live_session


async def status(request: Request) -> JSONResponse:
    token = bearer_token(request)
    session = await LOOKUP(token) if token else None
    if session is None:
        return JSONResponse(UNAUTHENTICATED)
    device: TwoFactor | None = getattr(session.account, "two_factor", None)
    enabled = device is not None and device.state == TwoFactorState.ACTIVE
    remaining = getattr(session, session_lookup.UNUSED_CODES) if enabled else 0
    body = {"data": {"twoFactorStatus": {"enabled": enabled, "backupCodesRemaining": remaining}}}
    return JSONResponse(body)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with RegisterTortoise(app, config=tortoise_config(os.environ["DATABASE_URL"])):
        yield


app = Starlette(
    routes=[Route("/graphql", status, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
