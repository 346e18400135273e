"""services/backup_codes.py: changes no other test noticed (issue 17, item 2). Two accounts
wherever rows are replaced or spent; a regeneration raced by turning 2FA off."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from models import Account, BackupCode, FailedAttempt
from services import backup_codes
from services.errors import TwoFactorNotEnabled
from services.runtime import RequestMeta, Runtime
from services.throttle import password_subject
from services.totp import normalize_code
from tests.helpers import PASSWORD, Api, with_connection_only

META = RequestMeta(ip_address="203.0.113.6", user_agent="tests")


async def with_codes(api: Api, email: str) -> tuple[Account, list[str]]:
    enabled = await api.enable_two_factor(await api.sign_up(email))
    return await Account.get(email=email), enabled.backup_codes


async def test_regenerating_one_accounts_codes_leaves_anothers_working(
    api: Api, app: Starlette
) -> None:
    rt: Runtime = app.state.runtime
    alice, alice_codes = await with_codes(api, "alice@example.com")
    bob, bob_codes = await with_codes(api, "bob@example.com")
    bobs_rows = {row.digest for row in await BackupCode.filter(account_id=bob.id)}
    bobs_time = (await Account.get(id=bob.id)).backup_codes_generated_at
    api.clock.advance(3600)

    fresh = await backup_codes.regenerate(rt, alice, PASSWORD, META)

    assert (await Account.get(id=bob.id)).backup_codes_generated_at == bobs_time

    assert {row.digest for row in await BackupCode.filter(account_id=bob.id)} == bobs_rows
    assert await backup_codes.spend(rt, bob.id, normalize_code(bob_codes[0])) is True
    # Alice's earlier codes are gone, her new ones work.
    assert await backup_codes.spend(rt, alice.id, normalize_code(alice_codes[0])) is False
    assert await backup_codes.spend(rt, alice.id, normalize_code(fresh[0])) is True
    assert await BackupCode.filter(account_id=alice.id).count() == 10


async def test_regeneration_records_when_on_the_account_row(api: Api, app: Starlette) -> None:
    rt: Runtime = app.state.runtime
    alice, _ = await with_codes(api, "alice@example.com")
    api.clock.advance(3600)

    await backup_codes.regenerate(rt, alice, PASSWORD, META)

    assert alice.backup_codes_generated_at == rt.clock.now()
    stored = await Account.get(id=alice.id)
    assert stored.backup_codes_generated_at == rt.clock.now()
    rows = await BackupCode.filter(account_id=alice.id)
    assert {row.created_at for row in rows} == {rt.clock.now()}
    assert len({row.batch_id for row in rows}) == 1


async def test_a_code_is_spent_once_and_marked_with_the_time(api: Api, app: Starlette) -> None:
    rt: Runtime = app.state.runtime
    alice, codes = await with_codes(api, "alice@example.com")
    code = normalize_code(codes[3])

    assert await backup_codes.spend(rt, alice.id, code) is True
    assert await backup_codes.spend(rt, alice.id, code) is False
    (used,) = await BackupCode.filter(account_id=alice.id, used_at__isnull=False)
    assert used.used_at == rt.clock.now()
    assert used.digest == rt.keys.account_digests(alice.id, code)[0]


async def test_regenerate_refuses_an_account_without_two_factor(api: Api, app: Starlette) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    with pytest.raises(TwoFactorNotEnabled):
        await backup_codes.regenerate(app.state.runtime, account, PASSWORD, META)
    assert await BackupCode.filter(account_id=account.id).count() == 0


async def test_a_regeneration_raced_by_turning_two_factor_off_makes_no_codes(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2FA turned off (by another request) after regenerate checked it and before its
    transaction: no batch appears on an account without 2FA."""
    rt: Runtime = app.state.runtime
    alice, _ = await with_codes(api, "alice@example.com")
    await with_codes(api, "bob@example.com")  # whose 2FA stays on
    real = backup_codes.check_password

    async def check_then_turned_off(*args: Any, **kwargs: Any) -> None:
        await real(*args, **kwargs)
        await Account.filter(id=alice.id).update(two_factor_enabled_at=None)
        await BackupCode.filter(account_id=alice.id).delete()

    monkeypatch.setattr(backup_codes, "check_password", check_then_turned_off)
    with pytest.raises(TwoFactorNotEnabled):
        await backup_codes.regenerate(rt, alice, PASSWORD, META)
    assert await BackupCode.filter(account_id=alice.id).count() == 0


async def test_regenerate_without_two_factor_asks_no_password_even_if_another_account_has_it(
    api: Api, app: Starlette
) -> None:
    await with_codes(api, "bob@example.com")
    await api.sign_up()
    alice = await Account.get(email="alice@example.com")

    with pytest.raises(TwoFactorNotEnabled):
        await backup_codes.regenerate(app.state.runtime, alice, "a wrong password", META)
    assert not await FailedAttempt.exists(subject=password_subject("alice@example.com"))


async def test_a_batch_is_replaced_only_through_the_connection_it_is_given(
    api: Api, app: Starlette
) -> None:
    """replace_batch runs in its caller's transaction, given as an argument: run from a task
    that did not open it, its delete and its inserts are still the transaction's, and a
    rollback leaves the old batch whole."""
    rt: Runtime = app.state.runtime
    alice, codes = await with_codes(api, "alice@example.com")
    before = {row.digest for row in await BackupCode.filter(account_id=alice.id)}

    class Rollback(Exception):
        pass

    outside = contextvars.copy_context()
    with pytest.raises(Rollback):
        async with in_transaction() as connection:
            fresh = await with_connection_only(
                outside, backup_codes.replace_batch(rt, alice, connection)
            )
            inside = await BackupCode.filter(account_id=alice.id).using_db(connection)
            assert {row.digest for row in inside} == {
                rt.keys.account_digests(alice.id, normalize_code(code))[0] for code in fresh
            }
            raise Rollback
    assert {row.digest for row in await BackupCode.filter(account_id=alice.id)} == before
    assert await backup_codes.spend(rt, alice.id, normalize_code(codes[0])) is True
