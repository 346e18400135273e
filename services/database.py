"""Tortoise configuration and migrations (Tortoise's own framework, package `migrations`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate

from services.settings import Settings

MODELS = ["models"]


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
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
    _ensure_sqlite_dir(settings.database_url)
    return tortoise_config(settings.database_url)


def _ensure_sqlite_dir(database_url: str) -> None:
    if database_url.startswith("sqlite://") and ":memory:" not in database_url:
        Path(database_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)


async def apply_migrations(database_url: str) -> None:
    """Bring the database to the latest migration."""
    _ensure_sqlite_dir(database_url)
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
