"""The single-use guards under real parallelism: PostgreSQL runs these requests at once,
where SQLite would serialise them. Needs TEST_POSTGRES_URL (set by .ci/run)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from models import BackupCode
from server import create_app
from services.clock import FrozenClock
from services.crypto import KeyRing
from services.totp import normalize_code
from tests.conftest import TEST_KEY, make_settings, start
from tests.helpers import PASSWORD, Api, error_codes
from tests.postgres import POSTGRES_URL, scratch_database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set: PostgreSQL race tests skipped"
    ),
]

REGENERATE = """
mutation R($input: RegenerateBackupCodesInput!) {
  regenerateBackupCodes(input: $input) { backupCodes errors { code } }
}
"""


@pytest.fixture
async def pg_api(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    async with scratch_database() as database:
        settings = make_settings(
            tmp_path / "unused.sqlite3", tmp_path / "var", database_url=database.url
        )
        async for client in start(create_app(settings, clock=clock)):
            yield Api(client, clock)


async def test_twenty_parallel_uses_of_one_backup_code_open_one_session(pg_api: Api) -> None:
    enabled = await pg_api.enable_two_factor(await pg_api.sign_up())
    challenges = [await pg_api.challenge() for _ in range(20)]
    code = enabled.backup_codes[0]
    results = await asyncio.gather(*(pg_api.verify(challenge, code) for challenge in challenges))
    assert sum(result["session"] is not None for result in results) == 1
    assert await BackupCode.filter(used_at__isnull=False).count() == 1


async def test_parallel_sign_ins_with_one_totp_code_open_one_session(pg_api: Api) -> None:
    enabled = await pg_api.enable_two_factor(await pg_api.sign_up())
    challenges = [await pg_api.challenge() for _ in range(8)]
    code = pg_api.code(enabled.secret)
    results = await asyncio.gather(*(pg_api.verify(challenge, code) for challenge in challenges))
    assert sum(result["session"] is not None for result in results) == 1
    refused = [error_codes(result) for result in results if result["session"] is None]
    assert all(codes == ["CODE_ALREADY_USED"] for codes in refused)


async def test_twenty_parallel_confirmations_enable_once(pg_api: Api) -> None:
    token = await pg_api.sign_up()
    secret = (await pg_api.start(token))["setup"]["secret"]
    code = pg_api.code(secret)
    results = await asyncio.gather(*(pg_api.confirm(token, code) for _ in range(20)))
    assert sum(result["errors"] == [] for result in results) == 1
    assert await BackupCode.all().count() == 10


async def test_twenty_parallel_regenerations_leave_one_batch_of_ten(pg_api: Api) -> None:
    token = await pg_api.sign_up()
    await pg_api.enable_two_factor(token)
    results = await asyncio.gather(
        *(
            pg_api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
            for _ in range(20)
        )
    )
    answered = [
        r["regenerateBackupCodes"] for r in results if not r["regenerateBackupCodes"]["errors"]
    ]
    assert answered, "no regeneration went through"
    rows = await BackupCode.all()
    assert len(rows) == 10
    assert len({row.batch_id for row in rows}) == 1
    surviving = {row.digest for row in rows}
    # The surviving batch is the one some answer handed out.
    keys = KeyRing((TEST_KEY.encode(),))
    handed_out = [{keys.digests(normalize_code(c))[0] for c in a["backupCodes"]} for a in answered]
    assert surviving in handed_out
