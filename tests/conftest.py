"""Fixtures: the real app on a real (migrated) database, with a pinned clock.

The database is SQLite by default. With TEST_DATABASE=postgres (and TEST_POSTGRES_URL, an
admin URL of a PostgreSQL server) every test gets a PostgreSQL database as fresh as a new
one instead: a clone of a template migrated once per session, emptied between tests. Run
such a pass in a pytest process of its own: Tortoise caches each model's SQL for the first
dialect a process uses.
Tests that read the SQLite file itself are marked `sqlite_only` and skipped there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from starlette.applications import Starlette

from server import create_app
from services.clock import FrozenClock
from services.database import apply_migrations
from services.runtime import Runtime
from services.settings import Settings
from tests.helpers import Api
from tests.smtp_server import SmtpServer
from transport.ws_protocol import LeanWebSocketsProtocol

# A fixed instant on a 30-second boundary, so TOTP steps are predictable.
T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
TEST_KEY = Fernet.generate_key().decode()

TEST_DATABASE = os.environ.get("TEST_DATABASE", "").strip().lower() or "sqlite"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")
ON_POSTGRES = TEST_DATABASE == "postgres"

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DATABASE not in {"sqlite", "postgres"}:
        raise pytest.UsageError(f"TEST_DATABASE={TEST_DATABASE!r}: expected sqlite or postgres")
    if ON_POSTGRES and not POSTGRES_URL:
        raise pytest.UsageError("TEST_DATABASE=postgres needs TEST_POSTGRES_URL")


def pytest_report_header(config: pytest.Config) -> str:
    if ON_POSTGRES:
        server = _server(POSTGRES_URL)
        return f"test database: PostgreSQL, a fresh (emptied) database per test on {server}"
    return "test database: SQLite, a fresh file per test"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ON_POSTGRES:
        return
    skip = pytest.mark.skip(
        reason="sqlite_only: uses SQLite itself (its file, sqlite3 or a sqlite:// URL)"
    )
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is None:
            continue
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else None)
        item.add_marker(pytest.mark.skip(reason=f"sqlite_only: {reason}") if reason else skip)


def _server(url: str) -> str:
    return urlsplit(url).hostname or "?"


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))


class PostgresDatabases:
    """The session's PostgreSQL databases: a template migrated once, and clones of it that
    tests borrow one at a time. A test gives its clone back emptied (every table but the
    migration history truncated, identities restarted), so the next test starts from what
    a fresh clone holds without a CREATE and a DROP DATABASE per test: each of those makes
    the server take a checkpoint, seconds apiece on a busy disk, and a suite's queue of
    them outlasted the suite. An event loop of its own thread runs the admin statements,
    so sync fixtures can use it whatever loop a test runs on. Databases carry the pytest
    process id in their names; those of a process that is gone (a run killed before its
    clean-up) are dropped when the next run starts on the same machine."""

    KEEP = "tortoise_migrations"

    def __init__(self, url: str) -> None:
        self._url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="postgres-admin", daemon=True
        )
        self._thread.start()
        self._admin: asyncpg.Connection | None = None
        self._borrowers: dict[str, asyncpg.Connection] = {}
        self._free: deque[str] = deque()
        self._tables = ""
        self.template = ""
        try:
            self._admin = self._wait(asyncpg.connect(url))
            self._wait(self._sweep())
            self.template = self._wait(self._create("tpl"))
            asyncio.run(apply_migrations(_database_url(self.template)))
            self._tables = self._wait(self._list_tables())
        except BaseException:
            self.close()
            raise

    def _wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _create(self, kind: str, template: str | None = None) -> str:
        assert self._admin is not None
        name = f"verrou_{kind}_{os.getpid()}_{secrets.token_hex(4)}"
        suffix = f' TEMPLATE "{template}"' if template else ""
        await self._admin.execute(f'CREATE DATABASE "{name}"{suffix}')
        # Throwaway databases: a commit need not wait for its WAL flush (that changes
        # durability across a server crash only, not what any transaction sees).
        await self._admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
        return name

    async def _sweep(self) -> None:
        """Drop the databases of earlier runs on this machine whose process is gone."""
        if urlsplit(self._url).hostname not in {"127.0.0.1", "localhost", "::1"}:
            return
        assert self._admin is not None
        rows = await self._admin.fetch(
            "SELECT datname FROM pg_database WHERE datname ~ '^verrou_(t|tpl|scratch)_[0-9]+_'"
        )
        for row in rows:
            name: str = row["datname"]
            if _process_alive(int(name.split("_")[2])):
                continue
            with contextlib.suppress(asyncpg.PostgresError):
                await self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _list_tables(self) -> str:
        connection = await asyncpg.connect(_database_url(self.template))
        try:
            rows = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> $1",
                self.KEEP,
            )
        finally:
            await connection.close()
        return ", ".join(f'"{row["tablename"]}"' for row in rows)

    async def _clone(self) -> str:
        name = await self._create("t", self.template)
        self._borrowers[name] = await asyncpg.connect(_database_url(name))
        return name

    async def _empty(self, name: str) -> None:
        connection = self._borrowers[name]
        # A test that left a transaction open would hold its locks: give up, not hang.
        await connection.execute("SET lock_timeout = '10s'")
        await connection.execute(f"TRUNCATE {self._tables} RESTART IDENTITY CASCADE")

    async def _drop(self, name: str) -> None:
        assert self._admin is not None
        borrower = self._borrowers.pop(name, None)
        if borrower is not None:
            with contextlib.suppress(Exception):
                await borrower.close(timeout=5)
        await self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def take(self) -> str:
        """A database as fresh as a new clone of the template, for one test."""
        return self._free.popleft() if self._free else self._wait(self._clone())

    def give_back(self, name: str) -> None:
        try:
            self._wait(self._empty(name))
        except Exception:
            self._wait(self._drop(name))  # not reusable: a fresh clone next time
        else:
            self._free.append(name)

    def close(self) -> None:
        try:
            if self._admin is not None:
                for name in [*self._free, *self._borrowers]:
                    with contextlib.suppress(Exception):
                        self._wait(self._drop(name))
                if self.template:
                    self._wait(self._drop(self.template))
                self._wait(self._admin.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The migrated template (TEST_DATABASE=postgres) and the per-test clones of it."""
    databases = PostgresDatabases(POSTGRES_URL)
    try:
        yield databases
    finally:
        databases.close()


# db_path -> the PostgreSQL URL that stands for it (TEST_DATABASE=postgres), so that
# make_settings(db_path, ...) points every test at its own database in either mode.
_POSTGRES_URLS: dict[Path, str] = {}


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated by the committed migrations; each test copies it."""
    assert not ON_POSTGRES, "the SQLite template in a TEST_DATABASE=postgres process"
    path = tmp_path_factory.mktemp("template") / "verrou.sqlite3"
    cache = os.environ.get("VERROU_TEMPLATE_CACHE", "")
    if not cache:
        asyncio.run(apply_migrations(f"sqlite://{path}"))
        return path
    # `make mutation` runs a pytest session per mutant: migrating once per set of migration
    # files, not once per mutant, saves about a second of each.
    digest = hashlib.sha256()
    for migration in sorted((Path(__file__).parent.parent / "migrations").rglob("*.py")):
        digest.update(migration.name.encode() + b"\0" + migration.read_bytes())
    cached = Path(cache) / f"template-{digest.hexdigest()[:16]}.sqlite3"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        building = cached.with_name(f"{cached.name}.{os.getpid()}")
        asyncio.run(apply_migrations(f"sqlite://{building}"))
        os.replace(building, cached)  # whole or absent for a parallel session
    shutil.copy(cached, path)
    return path


@pytest.fixture
def db_path(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """The test's SQLite file, a copy of the migrated template. Under TEST_DATABASE=postgres
    no such file exists: the path stands for the test's fresh PostgreSQL database, which
    make_settings(db_path, ...) and the `database_url` fixture then name."""
    path = tmp_path / "verrou.sqlite3"
    if not ON_POSTGRES:
        shutil.copy(request.getfixturevalue("template_db"), path)
        yield path
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.take()
    _POSTGRES_URLS[path] = _database_url(name)
    try:
        yield path
    finally:
        del _POSTGRES_URLS[path]
        databases.give_back(name)


@pytest.fixture
def database_url(db_path: Path) -> str:
    """The URL of the test's database, SQLite or PostgreSQL."""
    return _POSTGRES_URLS.get(db_path, f"sqlite://{db_path}")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def make_settings(db_path: Path, var_dir: Path, **overrides: Any) -> Settings:
    """Settings on the test's database: `db_path` is the `db_path` fixture's value (under
    TEST_DATABASE=postgres it names the test's PostgreSQL database); any other path is a
    SQLite file, which a TEST_DATABASE=postgres process must not open."""
    values: dict[str, Any] = {
        "database_url": _POSTGRES_URLS.get(db_path, f"sqlite://{db_path}"),
        "var_dir": var_dir,
        "encryption_keys": TEST_KEY,
        "environment": "development",
        # A port of its own, so a live server of the test never meets another run's on 8000.
        "port": free_port(),
        # Support's approval turns 2FA off at once, as before the waiting period; the tests
        # of the waiting period (tests/test_recovery_waiting_period.py) set their own.
        "recovery_wait_seconds": 0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def mail_settings_for(db_path: Path, var_dir: Path, smtp: SmtpServer, **overrides: Any) -> Settings:
    """make_settings with the test's real SMTP server as the mail transport."""
    return make_settings(
        db_path,
        var_dir,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        mail_from="Verrou <no-reply@verrou.example>",
        **overrides,
    )


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    # The `live` server listens on the settings' own port, so its origin is the app's own
    # (base_url): the WebSocket origin check trusts it, as it would a deployment's PUBLIC_URL.
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
def rt(app: Starlette) -> Runtime:
    """The app's runtime (settings, clock, passwords, metrics...), for calling services."""
    runtime: Runtime = app.state.runtime
    return runtime


@pytest.fixture
async def api(app: Starlette, clock: FrozenClock) -> AsyncIterator[Api]:
    async for client in start(app):
        yield Api(client, clock, app.state.runtime.settings.port)


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
    """The app behind a real uvicorn on the port of its settings (free when they were made)."""
    port = app.state.runtime.settings.port
    # The WebSocket protocol `serve` runs (cli.py), so the socket tests go through it.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws=LeanWebSocketsProtocol
    )
    server = uvicorn.Server(config)
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


@pytest.fixture
def extension_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per time VerrouSchema builds its extension objects: Strawberry's path does
    at every operation, a prepared run does not (schema/prepared.py)."""
    from schema.build import VerrouSchema

    built: list[int] = []
    extensions = VerrouSchema.get_extensions

    def counting(self: VerrouSchema, sync: bool = False) -> Any:
        built.append(1)
        return extensions(self, sync)

    monkeypatch.setattr(VerrouSchema, "get_extensions", counting)
    return built
