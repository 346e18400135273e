"""The single-use guards under concurrent requests, on the suite's database: SQLite in the
SQLite pass, PostgreSQL in make test's PostgreSQL pass (TEST_DATABASE=postgres)."""

from __future__ import annotations

from starlette.applications import Starlette

from tests import races
from tests.helpers import Api


async def test_twenty_uses_of_one_backup_code_at_once_open_one_session(api: Api) -> None:
    await races.one_backup_code_used_at_once(api, times=20)


async def test_sign_ins_with_one_totp_code_at_once_open_one_session(api: Api) -> None:
    await races.one_totp_code_used_at_once(api, times=8)


async def test_twenty_confirmations_with_one_code_at_once_enable_once(api: Api) -> None:
    await races.one_confirmation_code_used_at_once(api, times=20)


async def test_twenty_regenerations_at_once_leave_one_batch_of_ten(
    api: Api, app: Starlette
) -> None:
    await races.regenerations_at_once(api, app.state.runtime.keys, times=20)


async def test_twenty_uses_of_one_security_key_answer_open_one_session(
    api: Api, app: Starlette
) -> None:
    await races.one_key_answer_used_at_once(api, times=20)


async def test_twenty_uses_of_one_passkey_answer_open_one_session(api: Api, app: Starlette) -> None:
    await races.one_passkey_answer_used_at_once(api, times=20)
