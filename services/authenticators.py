"""An account's second factors as one list: its TOTP app and its security keys.

Listing, renaming and removing them. Removing the last one turns 2FA off, with everything
that implies (services.two_factor.turn_off); the account's row is locked for the change, so
two removals at once cannot both leave the other behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import Account, SecurityKey, TwoFactor
from models.two_factor import TwoFactorState
from services import changes, i18n, statements, two_factor, validation
from services.accounts import check_password
from services.errors import ConfirmationRequired, NotFound
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind

TOTP = "TOTP"
SECURITY_KEY = "SECURITY_KEY"
NAME_MAX = 64


@dataclass(frozen=True)
class Authenticator:
    """`kind` TOTP: `pk` is the TwoFactor row's; SECURITY_KEY: the SecurityKey row's."""

    kind: str
    pk: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    passkey: bool
    flagged_at: datetime | None = None


def _app(device: TwoFactor, locale: str) -> Authenticator:
    return Authenticator(
        kind=TOTP,
        pk=device.id,
        name=device.name or i18n.translate("AUTHENTICATOR_APP", locale),
        created_at=device.enabled_at or device.created_at,
        last_used_at=device.last_used_at,
        passkey=False,
    )


def _key(key: SecurityKey) -> Authenticator:
    return Authenticator(
        kind=SECURITY_KEY,
        pk=key.id,
        name=key.name,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        passkey=key.passkey,
        flagged_at=key.flagged_at,
    )


async def list_for(account_id: int, locale: str) -> list[Authenticator]:
    """Every second factor of the account, oldest first (a pending TOTP setup is none)."""
    # Read on every status poll of the web client: statements written once (services/statements.py).
    devices = await statements.select(
        TwoFactor, None, account_id=account_id, state=TwoFactorState.ACTIVE
    )
    found = [_app(device, locale) for device in devices]
    found += [
        _key(key) for key in await statements.select(SecurityKey, None, account_id=account_id)
    ]
    return sorted(found, key=lambda a: (a.created_at, a.kind, a.pk))


async def find_own(account: Account, kind: str, pk: int) -> Authenticator | None:
    """The account's own authenticator of this kind and key; None for anyone else's."""
    if kind == TOTP:
        device = await TwoFactor.get_or_none(
            id=pk, account_id=account.id, state=TwoFactorState.ACTIVE
        )
        return _app(device, account.locale.value) if device else None
    key = await SecurityKey.get_or_none(id=pk, account_id=account.id)
    return _key(key) if key else None


async def rename(account: Account, kind: str, pk: int, name: str) -> Authenticator:
    new_name = validation.required_text(name, "name", NAME_MAX)
    if kind == TOTP:
        updated = await TwoFactor.filter(
            id=pk, account_id=account.id, state=TwoFactorState.ACTIVE
        ).update(name=new_name)
    else:
        updated = await SecurityKey.filter(id=pk, account_id=account.id).update(name=new_name)
    found = await find_own(account, kind, pk) if updated else None
    if found is None:
        raise NotFound(field="id")
    return found


async def remove(
    rt: Runtime,
    account: Account,
    kind: str,
    pk: int,
    password: str,
    confirmed: bool,
    meta: RequestMeta,
) -> None:
    """Remove one authenticator (password and `confirmed` asked); the last one turns 2FA off."""
    if await find_own(account, kind, pk) is None:
        raise NotFound(field="id")
    if not confirmed:
        raise ConfirmationRequired(field="confirm")
    await check_password(rt, account, password)
    async with changes.account_change(rt, account, meta) as change:
        await two_factor.lock_account(change)
        connection = change.connection
        model: type[TwoFactor] | type[SecurityKey] = TwoFactor if kind == TOTP else SecurityKey
        row = await model.get_or_none(id=pk, account_id=account.id, using_db=connection)
        deleted = (
            await model.filter(id=pk, account_id=account.id).using_db(connection).delete()
            if row is not None
            else 0
        )
        if deleted != 1:  # a parallel request removed it first
            raise NotFound(field="id")
        name = row.name if row is not None else None
        await change.record_event(SecurityEventKind.AUTHENTICATOR_REMOVED)
        left = (
            await TwoFactor.filter(account_id=account.id, state=TwoFactorState.ACTIVE)
            .using_db(connection)
            .count()
            + await SecurityKey.filter(account_id=account.id).using_db(connection).count()
        )
        if left == 0:
            await two_factor.turn_off(change)
            await change.record_event(SecurityEventKind.TWO_FACTOR_DISABLED)
            await change.notify(NotificationKind.TWO_FACTOR_DISABLED)
            return
        params: dict[str, object] = {"kind": kind, "name": name or ""}
        await change.notify(
            NotificationKind.AUTHENTICATOR_REMOVED,
            params,
            message_key=(
                "NOTIFICATION_AUTHENTICATOR_REMOVED_TOTP"
                if kind == TOTP
                else "NOTIFICATION_AUTHENTICATOR_REMOVED"
            ),
        )
