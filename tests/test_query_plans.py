"""Each lookup of one account's rows finds them through an index that starts with the
account, on the migrated schema: neither SQLite nor PostgreSQL indexes a foreign key by
itself, and without these every sign-in walked all accounts' sign-ins of the last 90 days."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tortoise.context import TortoiseContext
from tortoise.queryset import QuerySet

from models import (
    LinkToken,
    Notification,
    RecoveryDocument,
    RecoveryRequest,
    RememberedDevice,
    SecurityEvent,
    SecurityKey,
    Session,
    SignInChallenge,
    WebAuthnChallenge,
)
from models.recovery import RecoveryStatus
from services import sign_in_alerts
from services.database import apply_migrations, tortoise_config
from services.security_events import SecurityEventKind

SINCE = datetime(2026, 9, 1, tzinfo=UTC)


def plan(db: sqlite3.Connection, sql: str, values: tuple[object, ...] = ()) -> str:
    rows = db.execute(f"EXPLAIN QUERY PLAN {sql}", values).fetchall()
    return " | ".join(row[-1] for row in rows)


def lookups() -> dict[str, str]:
    """The statements, as Tortoise writes them, of the services' per-account reads."""
    queries: dict[str, QuerySet] = {  # type: ignore[type-arg]
        "security events page": SecurityEvent.filter(account_id=7).order_by("-id").limit(21),
        "second factor failures": SecurityEvent.filter(
            account_id=7, kind="SECOND_FACTOR_FAILED", created_at__gt=SINCE
        ),
        "notifications page": Notification.filter(account_id=7).order_by("-id").limit(21),
        "unread notifications": Notification.filter(account_id=7, read_at=None),
        "open sessions": Session.filter(account_id=7, revoked_at=None),
        "unused challenges": SignInChallenge.filter(account_id=7, used_at=None),
        "unused links": LinkToken.filter(account_id=7, purpose="secure_account", used_at=None),
        "remembered devices": RememberedDevice.filter(account_id=7),
        "security keys": SecurityKey.filter(account_id=7),
        "key ceremonies": WebAuthnChallenge.filter(account_id=7),
        "scheduled recovery": RecoveryRequest.filter(account_id=7, status=RecoveryStatus.SCHEDULED),
        "a request's documents": RecoveryDocument.filter(request_id=7),
    }
    return {name: query.sql(params_inline=True) for name, query in queries.items()}


async def migrated(tmp_path: Path) -> Path:
    path = tmp_path / "plans.sqlite3"
    await apply_migrations(f"sqlite://{path}")
    return path


def first_columns(db: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """Each index's table and first column."""
    found = {}
    for index, table in db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"):
        first = db.execute(f'PRAGMA index_info("{index}")').fetchone()
        if first:
            found[index] = (table, first[2])
    return found


@pytest.mark.sqlite_only
async def test_every_per_account_lookup_uses_an_index_on_the_account(tmp_path: Path) -> None:
    path = await migrated(tmp_path)
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(f"sqlite://{path}"))
        statements = lookups()
    with contextlib.closing(sqlite3.connect(path)) as db:
        # The indexes whose first column is the account's (or the request's) key.
        leading = {
            index
            for index, (_, column) in first_columns(db).items()
            if column in {"account_id", "request_id"}
        }
        assert len(leading) >= 10, leading
        for name, sql in statements.items():
            found = plan(db, sql)
            assert any(f"INDEX {index}" in found for index in leading), (name, found)
            assert "SCAN" not in found.replace("SCAN CONSTANT ROW", ""), (name, found)
        # The statement every sign-in runs (services.sign_in_alerts), with its own values.
        earlier = plan(
            db,
            sign_in_alerts._earlier_devices("sqlite"),
            (7, SecurityEventKind.SIGNED_IN.value, SINCE.isoformat()),
        )
        assert "idx_security_ev_created" not in earlier, earlier
        assert any(f"INDEX {index}" in earlier for index in leading), earlier
        # And the probe for the very same address and browser that comes before it.
        same = plan(
            db,
            sign_in_alerts._same_request_before("sqlite"),
            (7, SecurityEventKind.SIGNED_IN.value, SINCE.isoformat(), "192.0.2.1", "curl/8"),
        )
        assert "idx_security_ev_created" not in same, same
        assert any(f"INDEX {index}" in same for index in leading), same


@pytest.mark.sqlite_only
async def test_every_foreign_key_has_an_index_starting_with_it(tmp_path: Path) -> None:
    """The database looks up a deleted row's children by its foreign key (the purge deletes
    expired remembered devices, and their sessions are unlinked). Accounts are never
    deleted, so a support agent's reviews need no lookup by reviewer."""
    path = await migrated(tmp_path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        indexed = set(first_columns(db).values())
        keys = [
            (table, key[3])
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for key in db.execute(f'PRAGMA foreign_key_list("{table}")')
        ]
    assert len(keys) >= 10, keys
    exempt = {("recovery_request", "reviewer_id")}
    assert [key for key in keys if key not in indexed and key not in exempt] == []
