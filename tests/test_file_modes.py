"""Files at rest are private (services/var_files.py): everything Verrou writes under VAR_DIR
is 0600 (files) in 0700 folders, under the usual umask (0o022) and under none at all
(0o000), and what an older version left readable is tightened at start."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import create_app
from services import documents
from services.clock import FrozenClock
from services.crypto import DEV_KEY_FILE, load_key_ring
from services.database import apply_migrations
from services.documents import CheckedFile
from services.runtime import Runtime
from tests.conftest import make_settings, start
from tests.helpers import Api

# The tests that build a development setup's VAR_DIR, database included.
sqlite_file = pytest.mark.sqlite_only("the SQLite file of a development setup")

REQUEST_RESET = """
mutation Reset($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { errors { code } }
}
"""


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    """Every folder and file under `root` (itself included), by path relative to it."""
    found = {".": mode(root)}
    for folder, folders, files in os.walk(root):
        for name in [*folders, *files]:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = mode(path)
    return found


def assert_private(root: Path) -> None:
    for name, bits in modes_under(root).items():
        expected = 0o700 if (root / name).is_dir() else 0o600
        assert bits == expected, f"{name}: {oct(bits)}"


@sqlite_file
async def test_a_new_sqlite_database_is_private_with_its_folder(tmp_path: Path, umask: int) -> None:
    database = tmp_path / "var" / "db" / "verrou.sqlite3"

    await apply_migrations(f"sqlite://{database}")

    assert mode(database) == 0o600
    assert mode(database.parent) == 0o700
    assert mode(tmp_path / "var") == 0o700


@sqlite_file
async def test_the_write_ahead_log_and_the_journal_are_private(
    tmp_path: Path, umask: int, clock: FrozenClock
) -> None:
    var = tmp_path / "var"
    database = var / "verrou.sqlite3"
    await apply_migrations(f"sqlite://{database}")  # what `serve` does first
    app = create_app(make_settings(database, var), clock=clock)
    async for client in start(app):
        await Api(client, clock).sign_up()
        # Tortoise opens SQLite in WAL mode: the log and its shared memory are open now.
        for suffix in ("-wal", "-shm"):
            sibling = database.with_name(database.name + suffix)
            assert sibling.exists(), suffix
            assert mode(sibling) == 0o600, suffix
    # The rollback journal of the other journal modes (PERSIST keeps it after the commit).
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        assert connection.execute("PRAGMA journal_mode=PERSIST").fetchone() == ("persist",)
        connection.execute("UPDATE account SET locale = locale")
    finally:
        connection.close()
    journal = database.with_name(database.name + "-journal")
    assert journal.exists()
    assert mode(journal) == 0o600
    assert_private(var)


@sqlite_file
async def test_everything_a_development_server_writes_is_private(
    tmp_path: Path, umask: int, clock: FrozenClock
) -> None:
    """The database, the generated key, the .eml files and the recovery documents, then a
    walk of the whole folder for anything else."""
    var = tmp_path / "var"
    await apply_migrations(f"sqlite://{var / 'verrou.sqlite3'}")  # what `serve` does first
    settings = make_settings(var / "verrou.sqlite3", var, encryption_keys="")
    app = create_app(settings, clock=clock)
    async for client in start(app):
        api = Api(client, clock)
        await api.sign_up("owner@example.com")
        reply = await api.data(REQUEST_RESET, {"input": {"email": "owner@example.com"}})
        assert reply["requestPasswordReset"]["errors"] == []
        mail = var / "mail"
        for _ in range(200):
            if mail.exists() and any(mail.glob("*.eml")):
                break
            await asyncio.sleep(0.02)
        runtime: Runtime = app.state.runtime
        stored = await documents.store(
            runtime, CheckedFile("id.pdf", "application/pdf", b"%PDF-1.4 test")
        )

    assert mode(var / DEV_KEY_FILE) == 0o600
    assert [mode(path) for path in mail.glob("*.eml")] == [0o600]
    assert mode(mail) == 0o700
    assert mode(var / "recovery" / stored) == 0o600
    assert mode(var / "recovery") == 0o700
    assert_private(var)


async def test_a_recovery_folder_of_its_own_is_made_private_with_its_parents(
    tmp_path: Path, umask: int, db_path: Path, clock: FrozenClock
) -> None:
    folder = tmp_path / "elsewhere" / "documents"
    settings = make_settings(db_path, tmp_path / "var", recovery_dir=folder)
    runtime = create_app(settings, clock=clock).state.runtime

    stored = await documents.store(runtime, CheckedFile("a.png", "image/png", b"\x89PNG\r\n\x1a\n"))

    assert mode(folder / stored) == 0o600
    assert mode(folder) == 0o700
    assert mode(folder.parent) == 0o700


def test_the_development_key_and_its_folder_are_private(tmp_path: Path, umask: int) -> None:
    var = tmp_path / "state" / "var"

    load_key_ring("", var, development=True)

    assert mode(var / DEV_KEY_FILE) == 0o600
    assert mode(var) == 0o700
    assert mode(var.parent) == 0o700


@sqlite_file
async def test_files_an_older_version_left_readable_are_tightened_at_start(
    tmp_path: Path, clock: FrozenClock
) -> None:
    var = tmp_path / "var"
    database = var / "verrou.sqlite3"
    await apply_migrations(f"sqlite://{database}")
    old = {
        database: 0o644,
        var / "mail" / "20260101T000000-1.eml": 0o644,
        var / "recovery" / "0123456789abcdef": 0o644,
        var / DEV_KEY_FILE: 0o644,
    }
    for path, bits in old.items():
        path.parent.mkdir(exist_ok=True)
        path.touch()
        path.chmod(bits)
    for folder in (var, var / "mail", var / "recovery"):
        folder.chmod(0o755)
    (var / DEV_KEY_FILE).write_text("not used: ENCRYPTION_KEYS is set")
    outside = tmp_path / "not-ours.txt"
    outside.write_text("left alone")
    outside.chmod(0o644)
    (var / "link").symlink_to(outside)

    app = create_app(make_settings(database, var), clock=clock)
    async for _ in start(app):
        pass

    assert_private(var / "mail")
    assert_private(var / "recovery")
    assert mode(var) == 0o700
    assert mode(database) == 0o600
    assert mode(var / DEV_KEY_FILE) == 0o600
    assert mode(outside) == 0o644  # a link's target outside VAR_DIR is not ours to change
