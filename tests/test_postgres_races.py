"""The single-use guards under real parallelism: PostgreSQL runs these requests at once,
where SQLite would serialise them. Needs TEST_POSTGRES_URL (set by .ci/run)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server import create_app
from services.clock import FrozenClock
from services.crypto import KeyRing
from tests import races
from tests.conftest import TEST_KEY, make_settings, start
from tests.helpers import Api
from tests.postgres import POSTGRES_URL, scratch_database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set: PostgreSQL race tests skipped"
    ),
]


@pytest.fixture
async def pg_api(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    async with scratch_database() as database:
        settings = make_settings(
            tmp_path / "unused.sqlite3", tmp_path / "var", database_url=database.url
        )
        async for client in start(create_app(settings, clock=clock)):
            yield Api(client, clock, settings.port)


async def test_twenty_parallel_uses_of_one_backup_code_open_one_session(pg_api: Api) -> None:
    await races.one_backup_code_used_at_once(pg_api, times=20)


async def test_parallel_sign_ins_with_one_totp_code_open_one_session(pg_api: Api) -> None:
    await races.one_totp_code_used_at_once(pg_api, times=8)


async def test_twenty_parallel_confirmations_enable_once(pg_api: Api) -> None:
    await races.one_confirmation_code_used_at_once(pg_api, times=20)


async def test_twenty_parallel_regenerations_leave_one_batch_of_ten(pg_api: Api) -> None:
    await races.regenerations_at_once(pg_api, KeyRing((TEST_KEY.encode(),)), times=20)


async def test_twenty_parallel_uses_of_one_security_key_answer_open_one_session(
    pg_api: Api,
) -> None:
    await races.one_key_answer_used_at_once(pg_api, times=20)


async def test_twenty_parallel_uses_of_one_passkey_answer_open_one_session(pg_api: Api) -> None:
    await races.one_passkey_answer_used_at_once(pg_api, times=20)
