"""The committed migrations build exactly what the models declare, on SQLite and on
PostgreSQL: a database built by the migrations and one built straight from the models
have the same tables, columns, nullability, keys and indexes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest
from tortoise.context import TortoiseContext

from services.database import apply_migrations, tortoise_config
from tests.postgres import POSTGRES_URL, scratch_database

Structure = dict[str, object]


async def from_models(url: str) -> None:
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(url))
        await context.generate_schemas()


def sqlite_structure(path: Path) -> Structure:
    with sqlite3.connect(path) as db:
        tables = sorted(
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if not name.startswith(("sqlite_", "tortoise_"))
        )
        structure: Structure = {}
        for table in tables:
            columns = sorted(
                (name, kind.upper(), bool(notnull), bool(pk))
                for _, name, kind, notnull, _, pk in db.execute(f'PRAGMA table_info("{table}")')
            )
            indexes = sorted(
                (
                    bool(unique),
                    tuple(c for _, _, c in db.execute(f'PRAGMA index_info("{index}")')),
                )
                for _, index, unique, *_ in db.execute(f'PRAGMA index_list("{table}")')
            )
            keys = sorted(
                (row[3], row[2], row[4], row[6])  # from, to table, to column, on delete
                for row in db.execute(f'PRAGMA foreign_key_list("{table}")')
            )
            structure[table] = {"columns": columns, "indexes": indexes, "foreign_keys": keys}
    return structure


@pytest.mark.sqlite_only
async def test_migrations_and_models_agree_on_sqlite(tmp_path: Path) -> None:
    migrated, declared = tmp_path / "migrated.sqlite3", tmp_path / "declared.sqlite3"
    await apply_migrations(f"sqlite://{migrated}")
    await from_models(f"sqlite://{declared}")
    built = sqlite_structure(migrated)
    assert len(built) >= 10
    assert built == sqlite_structure(declared)


async def postgres_structure(url: str) -> Structure:
    db = await asyncpg.connect(url)
    try:
        columns = await db.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, character_maximum_length"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name <> 'tortoise_migrations'"
        )
        indexes = await db.fetch(
            "SELECT t.relname AS table_name, ix.indisunique AS is_unique,"
            " array_agg(a.attname ORDER BY a.attnum) AS columns"
            " FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey)"
            " WHERE n.nspname = 'public' AND t.relname <> 'tortoise_migrations'"
            " GROUP BY t.relname, ix.indexrelid, ix.indisunique"
        )
        keys = await db.fetch(
            "SELECT tc.table_name, kcu.column_name, ccu.table_name AS target, rc.delete_rule"
            " FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage kcu USING (constraint_name, table_schema)"
            " JOIN information_schema.constraint_column_usage ccu"
            "   USING (constraint_name, table_schema)"
            " JOIN information_schema.referential_constraints rc USING (constraint_name)"
            " WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'"
        )
    finally:
        await db.close()
    return {
        "columns": sorted(tuple(row) for row in columns),
        "indexes": sorted((r["table_name"], r["is_unique"], tuple(r["columns"])) for r in indexes),
        "foreign_keys": sorted(tuple(row) for row in keys),
    }


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set: skipped")
async def test_migrations_and_models_agree_on_postgresql() -> None:
    async with (
        scratch_database() as migrated,
        scratch_database(migrated=False) as declared,
    ):
        await from_models(declared.url)
        built = await postgres_structure(migrated.url)
        assert len(built["columns"]) > 50  # type: ignore[arg-type]
        assert built == await postgres_structure(declared.url)
