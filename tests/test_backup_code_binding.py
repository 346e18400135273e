"""Backup-code digests bound to their account (issue 17, item 4): one account's code matches no
row of another account, even in a query that forgot to filter by account; the digests stored
before the binding are bound by migration 0011; key rotation keeps outstanding codes usable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate
from tortoise.transactions import in_transaction

from models import Account, BackupCode
from server import create_app
from services import backup_codes
from services.clock import FrozenClock
from services.crypto import KeyRing
from services.database import apply_migrations, prepare_sqlite_file, tortoise_config
from services.runtime import Runtime
from services.totp import normalize_code
from tests.conftest import TEST_KEY, make_settings, start
from tests.helpers import Api, error_codes

CODE = "abcde12345"


def test_one_code_has_no_digest_in_common_between_two_accounts() -> None:
    keys = KeyRing((Fernet.generate_key(), Fernet.generate_key()))
    alice, bob = keys.account_digests(1, CODE), keys.account_digests(2, CODE)
    assert len(alice) == len(bob) == 2
    assert not set(alice) & set(bob)
    # Nor with the unbound form, nor with a neighbouring id written alike ("1" and "12").
    assert not set(alice) & set(keys.digests(CODE))
    assert not set(alice) & set(keys.account_digests(12, CODE))
    # Each key of the ring gives its own; the newest first.
    assert alice[0] == KeyRing(keys.keys[:1]).account_digests(1, CODE)[0]


async def two_accounts_with_codes(api: Api) -> tuple[int, list[str], int, list[str]]:
    alice_codes = (await api.enable_two_factor(await api.sign_up("alice@example.com"))).backup_codes
    bob_codes = (await api.enable_two_factor(await api.sign_up("bob@example.com"))).backup_codes
    alice = await Account.get(email="alice@example.com")
    bob = await Account.get(email="bob@example.com")
    return alice.id, alice_codes, bob.id, bob_codes


async def test_a_code_of_one_account_matches_no_row_even_without_the_account_filter(
    api: Api, app: Starlette
) -> None:
    keys = app.state.runtime.keys
    alice_id, alice_codes, bob_id, _ = await two_accounts_with_codes(api)
    code = normalize_code(alice_codes[0])

    # The lookup spend() makes, as bob, with its account filter left out: no row at all.
    assert await BackupCode.filter(digest__in=keys.account_digests(bob_id, code)).count() == 0
    assert await BackupCode.filter(digest__in=keys.account_digests(alice_id, code)).count() == 1
    # Every stored digest is bound to its own account.
    for row in await BackupCode.all():
        assert row.digest not in keys.digests(code)


async def test_spend_refuses_another_accounts_code_and_leaves_it_usable(
    api: Api, app: Starlette
) -> None:
    rt: Runtime = app.state.runtime
    alice_id, alice_codes, bob_id, _ = await two_accounts_with_codes(api)
    code = normalize_code(alice_codes[0])

    assert await backup_codes.spend(rt, bob_id, code) is False
    assert await BackupCode.filter(used_at__isnull=False).count() == 0
    assert await backup_codes.spend(rt, alice_id, code) is True
    assert await BackupCode.filter(account_id=alice_id, used_at__isnull=False).count() == 1


async def test_spend_filters_by_account_even_when_a_digest_would_match(
    api: Api, app: Starlette
) -> None:
    """The account filter on its own (as if the binding were missing): a row of alice's
    holding the digest bob's code gives is not bob's to use."""
    rt: Runtime = app.state.runtime
    alice_id, _, bob_id, bob_codes = await two_accounts_with_codes(api)
    code = normalize_code(bob_codes[0])
    bobs = rt.keys.account_digests(bob_id, code)[0]
    await BackupCode.filter(digest=bobs).delete()
    row = await BackupCode.filter(account_id=alice_id).first()
    assert row is not None
    await BackupCode.filter(id=row.id).update(digest=bobs)

    assert await backup_codes.spend(rt, bob_id, code) is False
    assert await BackupCode.filter(used_at__isnull=False).count() == 0


async def test_replace_batch_stores_the_newest_keys_bound_digests(api: Api, app: Starlette) -> None:
    old = app.state.runtime.keys
    rt: Runtime = dataclasses.replace(
        app.state.runtime, keys=KeyRing((Fernet.generate_key(), *old.keys))
    )
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    async with in_transaction() as connection:
        codes = await backup_codes.replace_batch(rt, account, connection)

    stored = {row.digest for row in await BackupCode.filter(account_id=account.id)}
    newest = {rt.keys.account_digests(account.id, normalize_code(code))[0] for code in codes}
    assert stored == newest
    assert len(stored) == 10


async def test_a_code_made_under_the_old_key_works_after_a_new_key_goes_first(
    api: Api, app: Starlette
) -> None:
    before: Runtime = app.state.runtime
    alice_id, alice_codes, _, _ = await two_accounts_with_codes(api)
    rotated = dataclasses.replace(before, keys=KeyRing((Fernet.generate_key(), *before.keys.keys)))
    new_only = dataclasses.replace(before, keys=KeyRing(rotated.keys.keys[:1]))

    assert await backup_codes.spend(new_only, alice_id, normalize_code(alice_codes[0])) is False
    assert await backup_codes.spend(rotated, alice_id, normalize_code(alice_codes[0])) is True


@pytest.mark.sqlite_only
async def test_migration_0011_binds_the_digests_stored_before_it(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "before-0011.sqlite3"
    url = f"sqlite://{path}"
    prepare_sqlite_file(url)
    try:
        await migrate(config=tortoise_config(url), target="models.0010_purge_indexes")
    finally:
        await Tortoise.close_connections()
    settings = make_settings(path, tmp_path / "var", encryption_keys=TEST_KEY)
    keys = KeyRing((TEST_KEY.encode(),))

    app = create_app(settings, clock=clock)
    async for client in start(app):
        api = Api(client, clock)
        alice_id, alice_codes, bob_id, bob_codes = await two_accounts_with_codes(api)
        # As 0010's code stored them: unbound.
        for account_id, codes in ((alice_id, alice_codes), (bob_id, bob_codes)):
            for code in codes:
                normalized = normalize_code(code)
                await BackupCode.filter(
                    digest=keys.account_digests(account_id, normalized)[0]
                ).update(digest=keys.digests(normalized)[0])
        await BackupCode.filter(
            account_id=bob_id, digest=keys.digests(normalize_code(bob_codes[1]))[0]
        ).update(used_at=clock.now())

    await apply_migrations(url)

    app = create_app(settings, clock=clock)
    async for client in start(app):
        api = Api(client, clock)
        for row in await BackupCode.all():
            codes = alice_codes if row.account_id == alice_id else bob_codes
            assert row.digest in {
                keys.account_digests(row.account_id, normalize_code(code))[0] for code in codes
            }
        # A code of bob's now opens bob's account only, once; the one he used stays used.
        assert (
            await backup_codes.spend(app.state.runtime, alice_id, normalize_code(bob_codes[0]))
            is False
        )
        verified = await api.verify(await api.challenge("bob@example.com"), bob_codes[0])
        assert error_codes(verified) == [] and verified["usedBackupCode"] is True
        again = await api.verify(await api.challenge("bob@example.com"), bob_codes[1])
        assert error_codes(again) == ["INVALID_CODE"]
