"""services.remembered_devices, line by line (issue 17 item 2): what is stored, the binding's
exact message, the window's bounds and the switch that turns the feature off."""

from __future__ import annotations

import contextvars
from dataclasses import replace
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from models import Account, RememberedDevice
from services import remembered_devices
from services.clock import FrozenClock
from services.crypto import token_digest
from services.errors import InvalidInput
from services.runtime import RequestMeta, Runtime
from tests.conftest import T0
from tests.helpers import Api, with_connection_only

META = RequestMeta(ip_address="198.51.100.4", user_agent="Mozilla/5.0 (X11; Linux x86_64)")


async def account_with_2fa(api: Api, email: str = "alice@example.com") -> Account:
    await api.sign_up(email)
    await Account.filter(email=email).update(two_factor_enabled_at=T0 - timedelta(days=2))
    return await Account.get(email=email)


def switched_off(rt: Runtime) -> Runtime:
    return replace(rt, settings=rt.settings.model_copy(update={"remember_device_days": 0}))


async def test_remember_stores_the_digest_the_binding_and_the_browser(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    account = await account_with_2fa(api)
    token, device = await remembered_devices.remember(rt, account, META)
    stored = await RememberedDevice.get(id=device.id)
    assert stored.token_hash == token_digest(token) and token not in stored.token_hash
    assert stored.account_id == account.id
    assert stored.created_at == T0
    assert stored.expires_at == T0 + timedelta(days=rt.settings.remember_device_days)
    assert (stored.ip_address, stored.user_agent) == (META.ip_address, META.user_agent)
    # The binding is the HMAC of "id:password hash:2FA enrolment" for its own purpose: a
    # change of that text would forget every remembered device at the upgrade.
    enabled = account.two_factor_enabled_at
    assert enabled is not None
    message = f"{account.id}:{account.password_hash}:{enabled.isoformat()}"
    assert stored.binding == rt.keys.sign(message, b"remembered-device-binding")


async def test_a_user_agent_is_kept_to_512_characters_and_an_empty_one_as_none(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    account = await account_with_2fa(api)
    long_agent = "A" * 511 + "BC"
    _, device = await remembered_devices.remember(rt, account, RequestMeta(user_agent=long_agent))
    assert (await RememberedDevice.get(id=device.id)).user_agent == long_agent[:512]
    _, empty = await remembered_devices.remember(rt, account, RequestMeta(user_agent=""))
    assert (await RememberedDevice.get(id=empty.id)).user_agent is None
    _, missing = await remembered_devices.remember(rt, account, RequestMeta())
    assert (await RememberedDevice.get(id=missing.id)).user_agent is None


async def test_recognise_until_the_window_ends_and_not_at_its_end(
    app: Starlette, api: Api, clock: FrozenClock
) -> None:
    rt: Runtime = app.state.runtime
    account = await account_with_2fa(api)
    token, device = await remembered_devices.remember(rt, account, META)
    clock.advance(timedelta(days=rt.settings.remember_device_days).total_seconds() - 1)
    found = await remembered_devices.recognise(rt, account, token)
    assert found is not None and found.id == device.id
    assert await remembered_devices.valid_until(rt, account.id, [device.id]) == {
        device.id: device.expires_at
    }
    clock.advance(1)  # exactly at expires_at
    assert await remembered_devices.recognise(rt, account, token) is None
    assert await remembered_devices.valid_until(rt, account.id, [device.id]) == {}


async def test_recognise_refuses_no_token_a_wrong_one_and_a_switched_off_feature(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    account = await account_with_2fa(api)
    token, device = await remembered_devices.remember(rt, account, META)
    assert await remembered_devices.recognise(rt, account, None) is None
    assert await remembered_devices.recognise(rt, account, "") is None
    assert await remembered_devices.recognise(rt, account, token + "x") is None
    off = switched_off(rt)
    assert await remembered_devices.recognise(off, account, token) is None
    assert await remembered_devices.valid_until(off, account.id, [device.id]) == {}
    assert await remembered_devices.valid_until(rt, account.id, []) == {}


async def test_a_device_is_not_recognised_once_2fa_is_off_or_the_binding_changed(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    account = await account_with_2fa(api)
    token, device = await remembered_devices.remember(rt, account, META)
    assert await remembered_devices.recognise(rt, account, token) is not None
    # 2FA turned off (the row kept): neither recognised nor listed as valid.
    await Account.filter(id=account.id).update(two_factor_enabled_at=None)
    off = await Account.get(id=account.id)
    assert await remembered_devices.recognise(rt, off, token) is None
    assert await remembered_devices.valid_until(rt, account.id, [device.id]) == {}
    # 2FA on again, enrolled later: the binding no longer matches.
    await Account.filter(id=account.id).update(two_factor_enabled_at=T0)
    again = await Account.get(id=account.id)
    assert await remembered_devices.recognise(rt, again, token) is None
    assert await remembered_devices.valid_until(rt, account.id, [device.id]) == {}
    # A new password: the same.
    await Account.filter(id=account.id).update(
        two_factor_enabled_at=account.two_factor_enabled_at, password_hash="other"
    )
    moved = await Account.get(id=account.id)
    assert await remembered_devices.recognise(rt, moved, token) is None
    assert await remembered_devices.valid_until(rt, account.id, [device.id]) == {}


async def test_a_binding_of_another_account_is_not_accepted(app: Starlette, api: Api) -> None:
    """The binding names the account: a row moved to another account stops working."""
    rt: Runtime = app.state.runtime
    alice = await account_with_2fa(api)
    bob = await account_with_2fa(api, "bob@example.com")
    token, device = await remembered_devices.remember(rt, alice, META)
    await RememberedDevice.filter(id=device.id).update(account_id=bob.id)
    assert await remembered_devices.recognise(rt, bob, token) is None
    assert await remembered_devices.valid_until(rt, bob.id, [device.id]) == {}


async def test_require_enabled_refuses_only_when_the_feature_is_off(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    remembered_devices.require_enabled(rt, "remember_device")
    one_day = replace(rt, settings=rt.settings.model_copy(update={"remember_device_days": 1}))
    remembered_devices.require_enabled(one_day, "remember_device")
    with pytest.raises(InvalidInput) as refused:
        remembered_devices.require_enabled(switched_off(rt), "remember_device")
    assert refused.value.message_key == "REMEMBER_DEVICE_OFF"
    assert refused.value.field == "remember_device"


async def test_forget_all_says_how_many_it_forgot(app: Starlette, api: Api) -> None:
    rt: Runtime = app.state.runtime
    account = await account_with_2fa(api)
    for _ in range(3):
        await remembered_devices.remember(rt, account, META)
    assert await remembered_devices.forget_all(account.id) == 3
    assert await remembered_devices.forget_all(account.id) == 0


async def test_the_binding_of_an_account_without_2fa_ends_with_an_empty_enrolment(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    await api.sign_up("alice@example.com")
    account = await Account.get(email="alice@example.com")
    assert account.two_factor_enabled_at is None
    _, device = await remembered_devices.remember(rt, account, META)
    message = f"{account.id}:{account.password_hash}:"
    assert device.binding == rt.keys.sign(message, b"remembered-device-binding")


async def test_remember_writes_in_the_callers_transaction(app: Starlette, api: Api) -> None:
    rt: Runtime = app.state.runtime
    account = await account_with_2fa(api)
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            await remembered_devices.remember(rt, account, META, connection)
            raise RuntimeError("the sign-in failed after")
    assert not await RememberedDevice.exists(account_id=account.id)


async def test_remember_uses_only_the_connection_it_is_given(app: Starlette, api: Api) -> None:
    # From a task that did not open the transaction, as tests/helpers.py explains.
    rt: Runtime = app.state.runtime
    account = await account_with_2fa(api)
    outside = contextvars.copy_context()
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            remembering = remembered_devices.remember(rt, account, META, connection)
            _, device = await with_connection_only(outside, remembering)
            assert await RememberedDevice.filter(id=device.id).using_db(connection).exists()
            raise RuntimeError("the sign-in failed after")
    assert not await RememberedDevice.exists(account_id=account.id)


async def test_a_one_day_window_still_recognises_and_lists_the_device(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    one_day = replace(rt, settings=rt.settings.model_copy(update={"remember_device_days": 1}))
    account = await account_with_2fa(api)
    token, device = await remembered_devices.remember(one_day, account, META)
    assert device.expires_at == T0 + timedelta(days=1)
    found = await remembered_devices.recognise(one_day, account, token)
    assert found is not None and found.id == device.id
    assert await remembered_devices.valid_until(one_day, account.id, [device.id]) == {
        device.id: device.expires_at
    }
