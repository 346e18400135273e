"""The committed migrations are the schema: a model change without a migration fails here."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from services.database import apply_migrations, tortoise_config


@pytest.mark.sqlite_only
async def test_models_have_no_change_missing_from_the_migrations(tmp_path: Path) -> None:
    config = tortoise_config(f"sqlite://{tmp_path / 'check.sqlite3'}")
    async with TortoiseContext() as context:
        await context.init(config=config)
        assert context.apps is not None
        detector = MigrationAutodetector(context.apps, config["apps"])
        pending = await detector.changes()
    assert [writer.name for writer in pending] == []


@pytest.mark.sqlite_only
async def test_migrations_build_every_table_on_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    await apply_migrations(f"sqlite://{path}")
    with sqlite3.connect(path) as connection:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    expected = {
        "account",
        "session",
        "sign_in_challenge",
        "two_factor",
        "backup_code",
        "security_event",
        "notification",
        "failed_attempt",
    }
    assert expected <= tables
