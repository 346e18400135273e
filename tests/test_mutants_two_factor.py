"""services/two_factor.py's boundaries and race branches, each a change no other test noticed
(issue 17, items 2 and 7): the setup's expiry at its exact instant, a setup replaced by a start
or confirmed by another request while a confirmation runs, and cancel on two accounts."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from starlette.applications import Starlette
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import QuerySet

from models import (
    Account,
    BackupCode,
    FailedAttempt,
    Notification,
    RememberedDevice,
    SecurityEvent,
    SecurityKey,
    SignInChallenge,
    TwoFactor,
    WebAuthnChallenge,
)
from models.two_factor import TwoFactorState, WebAuthnChallengePurpose
from services import changes, two_factor
from services.errors import (
    CodeAlreadyUsed,
    InvalidCode,
    NoPendingSetup,
    SetupExpired,
    TwoFactorAlreadyEnabled,
    TwoFactorNotEnabled,
)
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind
from services.throttle import Attempt, password_subject, second_factor_subject
from services.totp import normalize_code
from tests.helpers import PASSWORD, Api, with_connection_only

META = RequestMeta(ip_address="203.0.113.5", user_agent="tests")


async def pending(api: Api, email: str) -> tuple[Account, str]:
    """An account with a pending TOTP setup; its secret."""
    token = await api.sign_up(email)
    setup = await api.start(token)
    assert setup["errors"] == [], setup
    return await Account.get(email=email), setup["setup"]["secret"]


def during_confirm(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], Awaitable[None]]
) -> None:
    """Run `meanwhile` inside confirm, after it read and checked the setup and before its
    conditional UPDATE: what a parallel request could do in that window."""
    real = two_factor.begin_attempt

    async def begin_then_race(*args: Any, **kwargs: Any) -> Attempt:
        attempt = await real(*args, **kwargs)
        await meanwhile()
        return attempt

    monkeypatch.setattr(two_factor, "begin_attempt", begin_then_race)


async def test_confirm_at_the_exact_expiry_instant_is_refused_as_expired(
    api: Api, app: Starlette
) -> None:
    rt: Runtime = app.state.runtime
    account, secret = await pending(api, "alice@example.com")
    api.clock.advance(rt.settings.setup_ttl_seconds)
    device = await TwoFactor.get(account_id=account.id)
    assert device.pending_expires_at == rt.clock.now()

    with pytest.raises(SetupExpired):
        await two_factor.confirm(rt, account, pyotp.TOTP(secret).at(rt.clock.now()), META)
    assert (await TwoFactor.get(account_id=account.id)).state == TwoFactorState.PENDING


async def test_confirm_a_second_before_expiry_turns_two_factor_on(api: Api, app: Starlette) -> None:
    rt: Runtime = app.state.runtime
    account, secret = await pending(api, "alice@example.com")
    api.clock.advance(rt.settings.setup_ttl_seconds - 1)

    codes = await two_factor.confirm(rt, account, pyotp.TOTP(secret).at(rt.clock.now()), META)
    assert codes is not None and len(codes) == 10
    assert (await TwoFactor.get(account_id=account.id)).state == TwoFactorState.ACTIVE


async def test_the_update_alone_refuses_a_setup_that_expires_at_that_instant(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conditional UPDATE checks the expiry again (`pending_expires_at > now`), for a row
    that changed after confirm read it: one whose expiry is now is no longer pending."""
    rt: Runtime = app.state.runtime
    account, secret = await pending(api, "alice@example.com")

    async def expire_now() -> None:
        await TwoFactor.filter(account_id=account.id).update(pending_expires_at=rt.clock.now())

    during_confirm(monkeypatch, expire_now)
    with pytest.raises(NoPendingSetup) as refused:
        await two_factor.confirm(rt, account, pyotp.TOTP(secret).at(rt.clock.now()), META)
    assert refused.value.field == "code"
    assert (await Account.get(id=account.id)).two_factor_enabled_at is None
    assert await BackupCode.filter(account_id=account.id).count() == 0


async def test_a_setup_replaced_by_a_start_during_confirm_is_not_confirmed(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.state.runtime
    # Bob's app is on: what decides between "already enabled" and "no pending setup" is
    # Alice's own.
    await api.enable_two_factor(await api.sign_up("bob@example.com"))
    account, secret = await pending(api, "alice@example.com")
    replaced: list[str] = []

    async def start_again() -> None:
        replaced.append((await two_factor.start(rt, account, PASSWORD, META)).secret)

    during_confirm(monkeypatch, start_again)
    with pytest.raises(NoPendingSetup) as refused:
        await two_factor.confirm(rt, account, pyotp.TOTP(secret).at(rt.clock.now()), META)
    assert refused.value.field == "code"

    # The new setup is the one pending, untouched; 2FA stayed off.
    (device,) = await TwoFactor.filter(account_id=account.id)
    assert device.state == TwoFactorState.PENDING
    assert rt.keys.decrypt(device.encrypted_secret).decode() == replaced[0] != secret
    assert (await Account.get(id=account.id)).two_factor_enabled_at is None
    assert await BackupCode.filter(account_id=account.id).count() == 0


async def test_a_setup_confirmed_by_another_request_meanwhile_answers_already_enabled(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.state.runtime
    account, secret = await pending(api, "alice@example.com")
    code = pyotp.TOTP(secret).at(rt.clock.now())
    other = await Account.get(id=account.id)

    async def confirmed_elsewhere() -> None:
        monkeypatch.setattr(two_factor, "begin_attempt", real_begin)
        assert await two_factor.confirm(rt, other, code, META) is not None

    real_begin = two_factor.begin_attempt
    during_confirm(monkeypatch, confirmed_elsewhere)
    with pytest.raises(TwoFactorAlreadyEnabled):
        await two_factor.confirm(rt, account, code, META)
    # One batch: the first confirmation's.
    assert await BackupCode.filter(account_id=account.id).count() == 10


async def test_cancel_deletes_only_the_accounts_own_pending_setup(api: Api, app: Starlette) -> None:
    alice, _ = await pending(api, "alice@example.com")
    bob, _ = await pending(api, "bob@example.com")
    carol_token = await api.sign_up("carol@example.com")
    await api.enable_two_factor(carol_token)

    await two_factor.cancel(alice)

    assert not await TwoFactor.exists(account_id=alice.id)
    assert (await TwoFactor.get(account_id=bob.id)).state == TwoFactorState.PENDING
    carol = await Account.get(email="carol@example.com")
    assert (await TwoFactor.get(account_id=carol.id)).state == TwoFactorState.ACTIVE


async def test_cancel_leaves_an_active_app_in_place(api: Api, app: Starlette) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    account = await Account.get(email="alice@example.com")

    await two_factor.cancel(account)

    assert (await TwoFactor.get(account_id=account.id)).state == TwoFactorState.ACTIVE


async def test_setup_expiry_is_start_time_plus_the_setting(api: Api, app: Starlette) -> None:
    rt: Runtime = app.state.runtime
    start_at = rt.clock.now()
    account, _ = await pending(api, "alice@example.com")
    device = await TwoFactor.get(account_id=account.id)
    assert device.pending_expires_at == start_at + timedelta(seconds=rt.settings.setup_ttl_seconds)


async def test_disable_without_two_factor_asks_no_password_even_if_another_account_has_it(
    api: Api, app: Starlette
) -> None:
    await api.enable_two_factor(await api.sign_up("bob@example.com"))
    await api.sign_up()
    alice = await Account.get(email="alice@example.com")

    with pytest.raises(TwoFactorNotEnabled):
        await two_factor.disable(app.state.runtime, alice, "a wrong password", True, META)
    assert not await FailedAttempt.exists(subject=password_subject("alice@example.com"))


async def test_start_with_an_app_on_answers_already_enabled_before_the_password(
    api: Api, app: Starlette
) -> None:
    # Whoever holds the session learns nothing of the password from it, and no failed
    # attempt is counted; a pending setup of another account changes nothing.
    await pending(api, "bob@example.com")
    await api.enable_two_factor(await api.sign_up())
    alice = await Account.get(email="alice@example.com")

    with pytest.raises(TwoFactorAlreadyEnabled):
        await two_factor.start(app.state.runtime, alice, "a wrong password", META)
    assert not await FailedAttempt.exists(subject=password_subject("alice@example.com"))


async def rows_of(account_id: int, connection: BaseDBAsyncClient | None = None) -> dict[str, int]:
    """How many rows of each per-account kind turn_off deletes or closes the account has."""
    kinds: dict[str, QuerySet[Any]] = {
        "two_factor": TwoFactor.filter(account_id=account_id),
        "security_keys": SecurityKey.filter(account_id=account_id),
        "key_challenges": WebAuthnChallenge.filter(account_id=account_id),
        "backup_codes": BackupCode.filter(account_id=account_id),
        "remembered": RememberedDevice.filter(account_id=account_id),
        "open_challenges": SignInChallenge.filter(account_id=account_id, used_at=None),
    }
    return {name: await rows.using_db(connection).count() for name, rows in kinds.items()}


async def give_every_row(rt: Runtime, account_id: int) -> None:
    now = rt.clock.now()
    await SecurityKey.create(
        account_id=account_id,
        credential_digest=f"{account_id:064x}",
        credential_id="AAAA",
        public_key="AAAA",
        user_handle=f"handle-{account_id}",
        name="key",
        created_at=now,
    )
    await WebAuthnChallenge.create(
        challenge_hash=f"{account_id:064x}",
        purpose=WebAuthnChallengePurpose.REGISTER,
        account_id=account_id,
        created_at=now,
        expires_at=now + timedelta(minutes=5),
    )
    await RememberedDevice.create(
        token_hash=f"{account_id + 1000:064x}",
        account_id=account_id,
        binding="0" * 64,
        created_at=now,
        expires_at=now + timedelta(days=30),
    )
    await SignInChallenge.create(
        token_hash=f"{account_id + 2000:064x}",
        account_id=account_id,
        created_at=now,
        expires_at=now + timedelta(minutes=5),
    )


async def test_disable_leaves_every_row_of_another_account(api: Api, app: Starlette) -> None:
    rt: Runtime = app.state.runtime
    await api.enable_two_factor(await api.sign_up("alice@example.com"))
    await api.enable_two_factor(await api.sign_up("bob@example.com"))
    alice = await Account.get(email="alice@example.com")
    bob = await Account.get(email="bob@example.com")
    for account in (alice, bob):
        await give_every_row(rt, account.id)
    bobs = await rows_of(bob.id)
    assert all(bobs.values()), bobs
    used_at = rt.clock.now() - timedelta(hours=1)
    used = await SignInChallenge.create(
        token_hash="f" * 64,
        account_id=alice.id,
        created_at=used_at,
        expires_at=used_at + timedelta(minutes=5),
        used_at=used_at,
    )

    await two_factor.disable(rt, alice, PASSWORD, True, META)

    # Closing the open challenges leaves the time a used one was used.
    assert (await SignInChallenge.get(id=used.id)).used_at == used_at

    assert await rows_of(alice.id) == dict.fromkeys(bobs, 0)
    assert await rows_of(bob.id) == bobs
    assert (await Account.get(id=bob.id)).two_factor_enabled_at is not None
    stored = await Account.get(id=alice.id)
    assert stored.two_factor_enabled_at is None and stored.backup_codes_generated_at is None
    assert alice.two_factor_enabled_at is None and alice.backup_codes_generated_at is None


async def test_lock_account_rereads_the_2fa_columns_through_the_changes_connection(
    api: Api, app: Starlette
) -> None:
    """An account read before another request turned 2FA on: locking it in a change brings
    its 2FA columns up to date, read in that change's transaction (from a task that did not
    open it, as turn_off below)."""
    rt: Runtime = app.state.runtime
    token = await api.sign_up()
    stale = await Account.get(email="alice@example.com")
    await api.enable_two_factor(token)
    stored = await Account.get(id=stale.id)
    assert stored.two_factor_enabled_at is not None
    assert stale.two_factor_enabled_at is None

    outside = contextvars.copy_context()
    async with changes.account_change(rt, stale, META) as change:
        await with_connection_only(outside, two_factor.lock_account(change))
    assert stale.two_factor_enabled_at == stored.two_factor_enabled_at
    assert stale.backup_codes_generated_at == stored.backup_codes_generated_at


async def test_turn_on_uses_only_the_changes_connection(api: Api, app: Starlette) -> None:
    """As turn_off below: from a task that did not open the change's transaction, 2FA and the
    new codes are the change's, gone with its rollback."""
    rt: Runtime = app.state.runtime
    await api.sign_up()
    alice = await Account.get(email="alice@example.com")

    class Rollback(Exception):
        pass

    outside = contextvars.copy_context()
    with pytest.raises(Rollback):
        async with changes.account_change(rt, alice, META) as change:
            codes = await with_connection_only(outside, two_factor.turn_on(change))
            assert codes is not None and len(codes) == rt.settings.backup_code_count
            on = Account.filter(id=alice.id, two_factor_enabled_at=rt.clock.now())
            assert await on.using_db(change.connection).exists()
            raise Rollback
    assert (await Account.get(id=alice.id)).two_factor_enabled_at is None
    assert await BackupCode.filter(account_id=alice.id).count() == 0


async def test_turn_off_uses_only_the_changes_connection(api: Api, app: Starlette) -> None:
    """Run from a task that did not open the change's transaction (tests/helpers.py): every
    statement of turn_off is the change's, so a rollback leaves 2FA and every row as they
    were."""
    rt: Runtime = app.state.runtime
    await api.enable_two_factor(await api.sign_up("alice@example.com"))
    alice = await Account.get(email="alice@example.com")
    await give_every_row(rt, alice.id)
    before = await rows_of(alice.id)
    assert all(before.values()), before

    class Rollback(Exception):
        pass

    outside = contextvars.copy_context()
    with pytest.raises(Rollback):
        async with changes.account_change(rt, alice, META) as change:
            assert await with_connection_only(outside, two_factor.turn_off(change)) is True
            assert await rows_of(alice.id, change.connection) == dict.fromkeys(before, 0)
            on = Account.filter(id=alice.id, two_factor_enabled_at__not_isnull=True)
            assert not await on.using_db(change.connection).exists()
            raise Rollback
    assert await rows_of(alice.id) == before
    assert (await Account.get(id=alice.id)).two_factor_enabled_at is not None


async def test_a_disable_raced_by_another_disable_reports_two_factor_off_once(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another request turns 2FA off after this one checked it and before its change:
    this one answers not enabled (one change, one email)."""
    rt: Runtime = app.state.runtime
    await api.enable_two_factor(await api.sign_up())
    alice = await Account.get(email="alice@example.com")
    real = two_factor.check_password

    async def check_then_disabled_elsewhere(*args: Any, **kwargs: Any) -> None:
        await real(*args, **kwargs)
        monkeypatch.setattr(two_factor, "check_password", real)
        await two_factor.disable(rt, await Account.get(id=alice.id), PASSWORD, True, META)

    monkeypatch.setattr(two_factor, "check_password", check_then_disabled_elsewhere)
    with pytest.raises(TwoFactorNotEnabled):
        await two_factor.disable(rt, alice, PASSWORD, True, META)
    events = await SecurityEvent.filter(account_id=alice.id).values_list("kind", flat=True)
    assert events.count(SecurityEventKind.TWO_FACTOR_DISABLED) == 1


async def test_start_leaves_another_accounts_setup_and_app(api: Api, app: Starlette) -> None:
    bob, _ = await pending(api, "bob@example.com")
    await api.enable_two_factor(await api.sign_up("carol@example.com"))
    carol = await Account.get(email="carol@example.com")

    alice, _ = await pending(api, "alice@example.com")

    assert (await TwoFactor.get(account_id=alice.id)).state == TwoFactorState.PENDING
    assert (await TwoFactor.get(account_id=bob.id)).state == TwoFactorState.PENDING
    assert (await TwoFactor.get(account_id=carol.id)).state == TwoFactorState.ACTIVE
    events = await SecurityEvent.filter(account_id=alice.id).values_list("kind", flat=True)
    assert events.count(SecurityEventKind.TWO_FACTOR_SETUP_STARTED) == 1


async def test_a_start_raced_by_a_confirmation_keeps_the_confirmed_app(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A confirmation finishing after start checked for an active app and before its
    transaction: start answers already enabled and deletes nothing."""
    rt: Runtime = app.state.runtime
    account, secret = await pending(api, "alice@example.com")
    real = two_factor.check_password

    async def check_then_confirmed(*args: Any, **kwargs: Any) -> None:
        await real(*args, **kwargs)
        other = await Account.get(id=account.id)
        await two_factor.confirm(rt, other, pyotp.TOTP(secret).at(rt.clock.now()), META)

    monkeypatch.setattr(two_factor, "check_password", check_then_confirmed)
    with pytest.raises(TwoFactorAlreadyEnabled):
        await two_factor.start(rt, account, PASSWORD, META)
    (device,) = await TwoFactor.filter(account_id=account.id)
    assert device.state == TwoFactorState.ACTIVE
    assert rt.keys.decrypt(device.encrypted_secret).decode() == secret


async def test_accept_totp_refuses_a_pending_app_and_names_the_code_field(
    api: Api, app: Starlette
) -> None:
    rt: Runtime = app.state.runtime
    account, secret = await pending(api, "alice@example.com")

    with pytest.raises(InvalidCode) as refused:
        await two_factor.accept_totp(rt, account.id, pyotp.TOTP(secret).at(rt.clock.now()))
    assert type(refused.value) is InvalidCode and refused.value.field == "code"
    with pytest.raises(InvalidCode) as wrong:
        await two_factor.accept_totp(rt, 999_999, "123456")
    assert wrong.value.field == "code"


async def test_accept_totp_records_its_step_and_when(api: Api, app: Starlette) -> None:
    rt: Runtime = app.state.runtime
    enabled = await api.enable_two_factor(await api.sign_up())
    account = await Account.get(email="alice@example.com")
    api.clock.advance(60)

    await two_factor.accept_totp(rt, account.id, pyotp.TOTP(enabled.secret).at(rt.clock.now()))

    device = await TwoFactor.get(account_id=account.id)
    assert device.last_used_at == rt.clock.now()
    assert device.last_step == int(rt.clock.now().timestamp()) // 30


async def test_accept_totp_does_not_mark_a_setup_that_took_its_apps_place(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2FA turned off and a new setup started (SQLite may give it the same id) while a
    sign-in code was being checked: the code is not accepted, the setup stays untouched."""
    rt: Runtime = app.state.runtime
    enabled = await api.enable_two_factor(await api.sign_up())
    account = await Account.get(email="alice@example.com")
    device = await TwoFactor.get(account_id=account.id)
    real = TwoFactor.get_or_none

    async def read_then_replaced(*args: Any, **kwargs: Any) -> TwoFactor | None:
        read = await real(*args, **kwargs)
        await TwoFactor.filter(id=device.id).delete()
        await TwoFactor.create(
            id=device.id,
            account_id=account.id,
            encrypted_secret=device.encrypted_secret,
            state=TwoFactorState.PENDING,
            created_at=rt.clock.now(),
            pending_expires_at=rt.clock.now() + timedelta(minutes=10),
        )
        return read

    monkeypatch.setattr(TwoFactor, "get_or_none", read_then_replaced)
    api.clock.advance(60)
    with pytest.raises(CodeAlreadyUsed) as refused:
        await two_factor.accept_totp(rt, account.id, pyotp.TOTP(enabled.secret).at(rt.clock.now()))
    assert refused.value.field == "code"
    setup = await TwoFactor.get(id=device.id)
    assert setup.state == TwoFactorState.PENDING
    assert setup.last_step is None and setup.last_used_at is None


async def test_confirm_errors_name_the_code_field(api: Api, app: Starlette) -> None:
    rt: Runtime = app.state.runtime
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    with pytest.raises(NoPendingSetup) as missing:
        await two_factor.confirm(rt, account, "123456", META)
    assert missing.value.field == "code"

    account, secret = await pending(api, "bob@example.com")
    with pytest.raises(InvalidCode) as wrong:
        await two_factor.confirm(rt, account, "000000", META)
    assert wrong.value.field == "code"
    # A wrong code is a failed second factor of this account: recorded and counted.
    events = await SecurityEvent.filter(account_id=account.id).values_list("kind", flat=True)
    assert SecurityEventKind.SECOND_FACTOR_FAILED in events
    subject = second_factor_subject(account.id)
    assert await FailedAttempt.filter(subject=subject).count() == 1

    api.clock.advance(rt.settings.setup_ttl_seconds)
    with pytest.raises(SetupExpired) as expired:
        await two_factor.confirm(rt, account, pyotp.TOTP(secret).at(rt.clock.now()), META)
    assert expired.value.field == "code"


async def test_a_confirmed_app_is_active_from_now_with_its_step_spent(
    api: Api, app: Starlette
) -> None:
    rt: Runtime = app.state.runtime
    account, secret = await pending(api, "alice@example.com")
    api.clock.advance(90)

    codes = await two_factor.confirm(rt, account, pyotp.TOTP(secret).at(rt.clock.now()), META)

    device = await TwoFactor.get(account_id=account.id)
    assert device.state == TwoFactorState.ACTIVE
    assert device.enabled_at == rt.clock.now() and device.pending_expires_at is None
    assert device.last_step == int(rt.clock.now().timestamp()) // 30
    stored = await Account.get(id=account.id)
    assert stored.two_factor_enabled_at == rt.clock.now() == account.two_factor_enabled_at
    # The right code is no failed guess.
    assert not await FailedAttempt.exists(subject=second_factor_subject(account.id))
    assert codes is not None
    assert {row.digest for row in await BackupCode.filter(account_id=account.id)} == {
        rt.keys.account_digests(account.id, normalize_code(code))[0] for code in codes
    }
    events = await SecurityEvent.filter(account_id=account.id).values_list("kind", flat=True)
    assert SecurityEventKind.TWO_FACTOR_ENABLED in events
    kinds = await Notification.filter(account_id=account.id).values_list("kind", flat=True)
    assert NotificationKind.TWO_FACTOR_ENABLED in kinds


async def test_an_app_added_when_keys_turned_two_factor_on_keeps_the_codes(
    api: Api, app: Starlette
) -> None:
    rt: Runtime = app.state.runtime
    account, secret = await pending(api, "alice@example.com")
    earlier = rt.clock.now() - timedelta(days=1)
    await Account.filter(id=account.id).update(two_factor_enabled_at=earlier)
    await give_every_row(rt, account.id)
    api.clock.advance(30)

    codes = await two_factor.confirm(rt, account, pyotp.TOTP(secret).at(rt.clock.now()), META)

    assert codes is None
    assert await BackupCode.filter(account_id=account.id).count() == 0
    assert (await Account.get(id=account.id)).two_factor_enabled_at == earlier
    events = await SecurityEvent.filter(account_id=account.id).values_list("kind", flat=True)
    assert SecurityEventKind.AUTHENTICATOR_ADDED in events
    assert SecurityEventKind.TWO_FACTOR_ENABLED not in events
    (notification,) = await Notification.filter(
        account_id=account.id, kind=NotificationKind.AUTHENTICATOR_ADDED
    )
    assert notification.params == {"kind": "TOTP"}
    assert notification.message_key == "NOTIFICATION_AUTHENTICATOR_ADDED_TOTP"
