"""Tortoise configuration and migrations (Tortoise's own framework, package `migrations`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api.migrate import migrate

from services.settings import Settings
from services.var_files import FILE_MODE, create_private, tighten

MODELS = ["models"]


# On SQLite, SQLite's own behaviour where Tortoise's default (a 16 KiB journal_size_limit)
# cuts the write-ahead log back after every checkpoint: the log then grows again with each
# commit, and each commit's sync must also write the file's new size. That cost about 115
# µs of CPU and doubled the wait of every commit (bench/README.md, "signIn at argon2's
# pace"). The log stays at its working size (about 4 MiB: SQLite checkpoints every 1,000
# pages); 64 MiB only bounds one that a long reader let grow. A value in DATABASE_URL's
# query string wins.
SQLITE_PRAGMAS = {"journal_size_limit": 64 * 1024 * 1024}


def tortoise_config(database_url: str) -> dict[str, Any]:
    connection: str | dict[str, Any] = database_url
    if database_url.startswith("sqlite://"):
        connection = expand_db_url(database_url)
        # Tortoise's client, plus a reader on the loop's thread (services/sqlite_client.py).
        connection["engine"] = "services.sqlite_client"
        given = parse_qs(urlparse(database_url).query)
        for pragma, value in SQLITE_PRAGMAS.items():
            if pragma not in given:
                connection["credentials"][pragma] = value
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": MODELS,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _cli_config() -> dict[str, Any]:
    settings = Settings()
    prepare_sqlite_file(settings.database_url)
    return tortoise_config(settings.database_url)


# The files SQLite keeps beside the database while it writes.
SQLITE_SIBLINGS = ("-journal", "-wal", "-shm")


def prepare_sqlite_file(database_url: str) -> None:
    """For a SQLite URL, make the database file before SQLite does: 0600 in a 0700 folder.
    SQLite opens an existing file as it is and gives its journal, WAL and shared-memory files
    the database file's own mode, so none of them is world-readable whatever the umask.
    Files of an older version, made under the umask, are tightened. Nothing for other URLs."""
    if not database_url.startswith("sqlite://") or ":memory:" in database_url:
        return
    path = Path(database_url.removeprefix("sqlite://").partition("?")[0])
    create_private(path)
    for suffix in SQLITE_SIBLINGS:
        tighten(path.with_name(path.name + suffix), FILE_MODE)


async def apply_migrations(database_url: str) -> None:
    """Bring the database to the latest migration."""
    prepare_sqlite_file(database_url)
    try:
        await migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


def __getattr__(name: str) -> Any:
    # `python -m tortoise makemigrations|migrate` reads TORTOISE_ORM ([tool.tortoise] in
    # pyproject.toml); built on access so importing this module reads no environment.
    if name == "TORTOISE_ORM":
        return _cli_config()
    raise AttributeError(name)


async def ping() -> None:
    """One round trip to the database; raises whatever the driver raises when it is down."""
    await connections.get("default").execute_query("SELECT 1")
