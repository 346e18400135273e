"""The "floor" for bench/status.py: the same 2FA status lookup, without GraphQL.

    DATABASE_URL=sqlite://… .venv/bin/python -m uvicorn bench.floor_app:app --port N

A plain Starlette + Tortoise app on Verrou's own models and database, doing the lookup
Verrou does, in one statement as Verrou does: the live session by SHA-256 of its bearer
token, joined to its account and the account's TwoFactor row, with the count of its unused
backup codes as a sub-select; then the JSON that `{ twoFactorStatus { enabled
backupCodesRemaining } }` answers. Anything GraphQL costs on top of this is overhead.

FLOOR_LOOKUP picks the lookup:
- `two` (the default): the two plain lookups of the performance issue,
  `Session.get_or_none(token_hash=…)` then `TwoFactor.get_or_none(account_id=…)`. Those two
  rows do not hold everything the status says (2FA on and the codes' batch are the
  account's, the count of unused codes is a COUNT): the floor answers the six fields from
  the TwoFactor row and the batch size, which is what Verrou answers for the benchmark's
  account (2FA on with a TOTP app, a full batch). It does less than Verrou does: a floor.
- `orm`: Verrou's one statement built with Tortoise's query builder (`select_related` and an
  annotated `Subquery`), which costs pypika more CPU than the two lookups together.
- `sql`: Verrou's own hand-written statement (services/session_lookup.py), its rows made into
  models as Tortoise makes them, so that only GraphQL, Verrou's HTTP layer and the way Verrou
  reads the rows (times by `datetime.fromisoformat`) separate the two.

The answer is the JSON of the six fields of `twoFactorStatus` that need no list, written by
`json.dumps` (Starlette's JSONResponse).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from tortoise.contrib.starlette import RegisterTortoise
from tortoise.expressions import RawSQL, Subquery
from tortoise.functions import Count
from tortoise.models import Model

from models import Account, BackupCode, Session, TwoFactor
from models.two_factor import TwoFactorState
from services import session_lookup
from services.database import tortoise_config

IDLE = timedelta(hours=2)
BATCH = 10
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


async def two_lookups(token: str) -> tuple[Session, TwoFactor | None] | None:
    """The issue's floor: the session by its token digest, then the account's TwoFactor row."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    session = await Session.get_or_none(token_hash=digest)
    if session is None or session.revoked_at is not None:
        return None
    return session, await TwoFactor.get_or_none(account_id=session.account_id)


async def same_sql_session(token: str) -> Session | None:
    """Verrou's statement, its rows made into models as Tortoise makes them
    (`Model._init_from_db`, its own ISO 8601 parser for SQLite's text times)."""
    now = datetime.now(UTC)
    digest = hashlib.sha256(token.encode()).hexdigest()
    db = Session._meta.db
    field = Session._meta.fields_map["expires_at"]
    values = [digest, field.to_db_value(now, Session), field.to_db_value(now - IDLE, Session)]
    statement = session_lookup._statement(db.capabilities.dialect)
    rows = await db.execute_query_dict(statement, values)
    if not rows:
        return None
    row = rows[0]
    session: Session = _model(Session, "s", row)
    account: Account = _model(Account, "a", row)
    object.__setattr__(session, "_account", account)
    object.__setattr__(account, "_two_factor", _model(TwoFactor, "t", row))
    object.__setattr__(session, session_lookup.UNUSED_CODES, int(row["unused"]))
    return session


def _model(model: type[Model], alias: str, row: dict[str, Any]) -> Any:
    prefix = f"{alias}."
    values = {key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)}
    if all(value is None for value in values.values()):
        return None
    return model._init_from_db(**values)


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def status_json(account: Account, device: TwoFactor | None, unused: int, *, pending: bool) -> Any:
    on = account.two_factor_enabled_at is not None
    totp = device is not None and device.state == TwoFactorState.ACTIVE
    status = {
        "enabled": on,
        "enabledAt": _moment(account.two_factor_enabled_at) if on else None,
        "pendingSetup": pending,
        "backupCodesRemaining": unused if on else 0,
        "backupCodesGeneratedAt": _moment(account.backup_codes_generated_at) if on else None,
        "method": ("TOTP" if totp else "SECURITY_KEY") if on else None,
    }
    return {"data": {"twoFactorStatus": status}}


async def answer(request: Request, lookup: str) -> JSONResponse:
    token = bearer_token(request)
    if not token:
        return JSONResponse(UNAUTHENTICATED)
    if lookup == "two":
        found = await two_lookups(token)
        if found is None:
            return JSONResponse(UNAUTHENTICATED)
        _, app = found
        on = app is not None and app.state == TwoFactorState.ACTIVE
        enabled_at = _moment(app.enabled_at) if on and app else None
        status = {
            "enabled": on,
            "enabledAt": enabled_at,
            "pendingSetup": False,
            # Not read: the two rows do not hold it. The benchmark's account has a full batch.
            "backupCodesRemaining": BATCH if on else 0,
            "backupCodesGeneratedAt": enabled_at,
            "method": "TOTP" if on else None,
        }
        return JSONResponse({"data": {"twoFactorStatus": status}})
    session = await (same_sql_session(token) if lookup == "sql" else live_session(token))
    if session is None:
        return JSONResponse(UNAUTHENTICATED)
    device: TwoFactor | None = getattr(session.account, "two_factor", None)
    pending = (
        device is not None
        and device.state == TwoFactorState.PENDING
        and device.pending_expires_at is not None
        and device.pending_expires_at > datetime.now(UTC)
    )
    unused = getattr(session, session_lookup.UNUSED_CODES)
    return JSONResponse(status_json(session.account, device, unused, pending=pending))


async def status(request: Request) -> JSONResponse:
    return await answer(request, os.environ.get("FLOOR_LOOKUP", "two"))


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
