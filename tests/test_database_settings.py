"""The database connection's settings: on SQLite the write-ahead log keeps its working size
(services.database.SQLITE_PRAGMAS) unless DATABASE_URL says otherwise."""

from __future__ import annotations

import pytest
from tortoise import connections

from services.database import SQLITE_PRAGMAS, tortoise_config

pytestmark = pytest.mark.usefixtures("api")  # the app's lifespan: its database is open


@pytest.mark.sqlite_only
async def test_the_write_ahead_log_is_not_cut_back_after_each_checkpoint() -> None:
    rows = await connections.get("default").execute_query_dict("PRAGMA journal_size_limit")
    assert rows == [{"journal_size_limit": 64 * 1024 * 1024}]
    assert SQLITE_PRAGMAS == {"journal_size_limit": 64 * 1024 * 1024}


def test_a_pragma_in_the_url_wins_and_other_databases_keep_their_url() -> None:
    given = tortoise_config("sqlite:///tmp/verrou.sqlite3?journal_size_limit=1000")
    credentials = given["connections"]["default"]["credentials"]
    assert credentials["journal_size_limit"] == 1000
    assert credentials["file_path"] == "/tmp/verrou.sqlite3"  # noqa: S108 (never opened)
    default = tortoise_config("sqlite:///tmp/verrou.sqlite3")["connections"]["default"]
    assert default["credentials"]["journal_size_limit"] == 64 * 1024 * 1024
    url = "postgres://postgres@127.0.0.1:5432/verrou"
    assert tortoise_config(url)["connections"]["default"] == url
