"""Scratch PostgreSQL databases for tests that need one of their own (TEST_POSTGRES_URL)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.database import apply_migrations

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


@dataclass
class ScratchDatabase:
    name: str
    url: str
    admin: asyncpg.Connection

    async def drop(self) -> None:
        """Gone at once, open connections included (FORCE)."""
        await self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@asynccontextmanager
async def scratch_database(*, migrated: bool = True) -> AsyncIterator[ScratchDatabase]:
    """A new database on the server of TEST_POSTGRES_URL, dropped afterwards."""
    assert POSTGRES_URL is not None, "TEST_POSTGRES_URL is not set"
    # The pid lets the test session's clean-up drop it if this process dies first.
    name = f"verrou_scratch_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES_URL)
    database = ScratchDatabase(
        name, urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}")), admin
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        if migrated:
            await apply_migrations(database.url)
        yield database
    finally:
        await database.drop()
        await admin.close()
