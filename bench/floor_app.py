"""The "floor" for bench/status.py: the same 2FA status lookup, without GraphQL.

    DATABASE_URL=sqlite://… .venv/bin/python -m uvicorn bench.floor_app:app --port N

A plain Starlette + Tortoise app on Verrou's own models and database: the live session by
SHA-256 of its bearer token (with its account), the account's TwoFactor row, the count of
its unused backup codes, and the JSON that `{ twoFactorStatus { enabled
backupCodesRemaining } }` answers. Anything GraphQL costs on top of this is overhead.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from tortoise.contrib.starlette import RegisterTortoise

from models import BackupCode, Session, TwoFactor
from models.two_factor import TwoFactorState
from services.database import tortoise_config

UNAUTHENTICATED = {"errors": [{"message": "Unauthorized"}], "data": None}


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def live_session(token: str) -> Session | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return (
        await Session.filter(token_hash=digest, revoked_at=None, expires_at__gt=datetime.now(UTC))
        .select_related("account")
        .first()
    )


async def status(request: Request) -> JSONResponse:
    token = bearer_token(request)
    session = await live_session(token) if token else None
    if session is None:
        return JSONResponse(UNAUTHENTICATED)
    device = await TwoFactor.get_or_none(account_id=session.account.id)
    enabled = device is not None and device.state == TwoFactorState.ACTIVE
    remaining = (
        await BackupCode.filter(account_id=session.account.id, used_at=None).count()
        if enabled
        else 0
    )
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
