"""Remembered devices: browsers that skip the second factor at sign-in for a fixed window.

`verifySignIn(rememberDevice: true)` hands the browser a device token; only its SHA-256 is
stored. A later `signIn` with it skips the second factor (never the password) until
`expires_at`, which use does not extend. The row's `binding` is an HMAC of the account id,
its password hash and its 2FA enrolment as they were when the device was remembered: a
password change or a re-enrolment changes what the binding is checked against, so every
device is forgotten without anyone having to remember to forget them. The events that end
trust outright (2FA turned off, sign out everywhere, "this wasn't me") call `forget_all` in
their transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from models import Account, RememberedDevice
from services.crypto import new_token, token_digest
from services.errors import InvalidInput
from services.runtime import RequestMeta, Runtime

_BINDING = b"remembered-device-binding"


def _binding_message(account: Account) -> str:
    enabled_at = account.two_factor_enabled_at
    return f"{account.id}:{account.password_hash}:{enabled_at.isoformat() if enabled_at else ''}"


def require_enabled(rt: Runtime, field: str) -> None:
    """`rememberDevice: true` is refused when the server turned the feature off."""
    if rt.settings.remember_device_days <= 0:
        raise InvalidInput("REMEMBER_DEVICE_OFF", field=field)


async def remember(
    rt: Runtime,
    account: Account,
    meta: RequestMeta,
    connection: BaseDBAsyncClient | None = None,
) -> tuple[str, RememberedDevice]:
    """A new device token for the account's current password and 2FA enrolment."""
    token = new_token()
    now = rt.clock.now()
    device = await RememberedDevice.create(
        using_db=connection,
        token_hash=token_digest(token),
        account_id=account.id,
        binding=rt.keys.sign(_binding_message(account), _BINDING),
        created_at=now,
        expires_at=now + timedelta(days=rt.settings.remember_device_days),
        ip_address=meta.ip_address,
        user_agent=meta.stored_user_agent,
    )
    return token, device


async def recognise(rt: Runtime, account: Account, token: str | None) -> RememberedDevice | None:
    """The account's remembered device of this token, while its window lasts and its binding
    still matches; None for anything else (a wrong, expired or foreign token only means the
    second factor is asked)."""
    if not token or rt.settings.remember_device_days <= 0:
        return None
    device = await RememberedDevice.get_or_none(
        token_hash=token_digest(token), account_id=account.id, expires_at__gt=rt.clock.now()
    )
    if device is None:
        return None
    if not account.two_factor_on:
        return None
    if not rt.keys.verify(_binding_message(account), device.binding, _BINDING):
        return None
    return device


async def valid_until(rt: Runtime, account_id: int, device_ids: list[int]) -> dict[int, datetime]:
    """When each of the account's devices that still skips the second factor stops doing so;
    forgotten, expired and no longer bound (password or enrolment changed) ones left out."""
    if not device_ids or rt.settings.remember_device_days <= 0:
        return {}
    account = await Account.get(id=account_id)
    if not account.two_factor_on:
        return {}
    message = _binding_message(account)
    devices = await RememberedDevice.filter(
        id__in=device_ids, account_id=account_id, expires_at__gt=rt.clock.now()
    )
    return {
        device.id: device.expires_at
        for device in devices
        if rt.keys.verify(message, device.binding, _BINDING)
    }


async def forget_all(account_id: int, connection: BaseDBAsyncClient | None = None) -> int:
    """Delete every remembered device of the account; how many there were."""
    return await RememberedDevice.filter(account_id=account_id).using_db(connection).delete()
