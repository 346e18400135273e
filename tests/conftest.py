"""Fixtures: the real app on a real (migrated) SQLite database, with a pinned clock."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from starlette.applications import Starlette

from server import create_app
from services.clock import FrozenClock
from services.database import apply_migrations
from services.settings import Settings
from tests.helpers import Api
from tests.smtp_server import SmtpServer

# A fixed instant on a 30-second boundary, so TOTP steps are predictable.
T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
TEST_KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated by the committed migrations; each test copies it."""
    path = tmp_path_factory.mktemp("template") / "verrou.sqlite3"
    asyncio.run(apply_migrations(f"sqlite://{path}"))
    return path


@pytest.fixture
def db_path(template_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "verrou.sqlite3"
    shutil.copy(template_db, path)
    return path


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def make_settings(db_path: Path, var_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite://{db_path}",
        "var_dir": var_dir,
        "encryption_keys": TEST_KEY,
        "environment": "development",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    return make_settings(db_path, tmp_path / "var")


async def start(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"user-agent": "verrou-tests/1.0"},
        ) as client:
            yield client


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> Starlette:
    return create_app(settings, clock=clock)


@pytest.fixture
async def api(app: Starlette, clock: FrozenClock) -> AsyncIterator[Api]:
    async for client in start(app):
        yield Api(client, clock)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveServer:
    app: Starlette
    url: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"


@pytest.fixture
async def live(app: Starlette) -> AsyncIterator[LiveServer]:
    """The app behind a real uvicorn on a free port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield LiveServer(app=app, url=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on a free port (stop() and start() it to play an outage)."""
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()
