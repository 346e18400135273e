"""The TOTP device's lifecycle: start, confirm, cancel, disable, and its status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import Account, BackupCode, SignInChallenge, TwoFactor
from models.two_factor import TwoFactorState
from services import backup_codes, changes, remembered_devices, security_events, totp
from services.accounts import check_password
from services.changes import Change
from services.errors import (
    CodeAlreadyUsed,
    ConfirmationRequired,
    InvalidCode,
    NoPendingSetup,
    SetupExpired,
    TwoFactorAlreadyEnabled,
    TwoFactorNotEnabled,
)
from services.notifications import NotificationKind
from services.qr import render_qr
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind
from services.throttle import begin_attempt, second_factor_subject


@dataclass(frozen=True)
class TwoFactorSetup:
    secret: str
    otpauth_uri: str
    qr_svg: str
    qr_png_data_uri: str
    issuer: str
    account_name: str
    expires_at: datetime


async def start(rt: Runtime, account: Account, password: str, meta: RequestMeta) -> TwoFactorSetup:
    if await TwoFactor.exists(account_id=account.id, state=TwoFactorState.ACTIVE):
        raise TwoFactorAlreadyEnabled()
    await check_password(rt, account, password, meta)
    now = rt.clock.now()
    secret = totp.new_secret()
    expires_at = now + timedelta(seconds=rt.settings.setup_ttl_seconds)
    async with in_transaction() as connection:
        # Starting again replaces the pending setup; an active device is never touched.
        await (
            TwoFactor.filter(account_id=account.id, state=TwoFactorState.PENDING)
            .using_db(connection)
            .delete()
        )
        if await TwoFactor.exists(account_id=account.id, using_db=connection):
            raise TwoFactorAlreadyEnabled()
        await TwoFactor.create(
            using_db=connection,
            account_id=account.id,
            encrypted_secret=rt.keys.encrypt(secret.encode("ascii")),
            state=TwoFactorState.PENDING,
            created_at=now,
            pending_expires_at=expires_at,
        )
        await security_events.record(
            rt, account.id, SecurityEventKind.TWO_FACTOR_SETUP_STARTED, meta, connection
        )
    issuer = rt.settings.totp_issuer
    uri = totp.otpauth_uri(secret, issuer, account.email)
    images = await render_qr(uri)
    return TwoFactorSetup(
        secret=secret,
        otpauth_uri=uri,
        qr_svg=images.svg,
        qr_png_data_uri=images.png_data_uri,
        issuer=issuer,
        account_name=account.email,
        expires_at=expires_at,
    )


async def cancel(account: Account) -> None:
    await TwoFactor.filter(account_id=account.id, state=TwoFactorState.PENDING).delete()


async def confirm(rt: Runtime, account: Account, code: str, meta: RequestMeta) -> list[str]:
    """Turn 2FA on with the first good code; returns the backup codes, shown this once."""
    device = await TwoFactor.get_or_none(account_id=account.id)
    if device is None:
        raise NoPendingSetup(field="code")
    if device.state == TwoFactorState.ACTIVE:
        raise TwoFactorAlreadyEnabled()
    now = rt.clock.now()
    if device.pending_expires_at is None or device.pending_expires_at <= now:
        raise SetupExpired(field="code")
    attempt = await begin_attempt(rt, second_factor_subject(account.id))
    secret = rt.keys.decrypt(device.encrypted_secret).decode("ascii")
    step = totp.matching_step(secret, totp.normalize_code(code), now)
    if step is None:
        await security_events.record(rt, account.id, SecurityEventKind.SECOND_FACTOR_FAILED, meta)
        raise InvalidCode(field="code")
    # The code was right: whatever happens next, it is not a failed guess.
    await attempt.succeeded()
    async with changes.account_change(rt, account, meta) as change:
        # The one conditional UPDATE that decides: of concurrent confirmations, one wins,
        # and the step it stores makes the confirming code unusable for sign-in.
        won = (
            await TwoFactor.filter(
                id=device.id, state=TwoFactorState.PENDING, pending_expires_at__gt=now
            )
            .using_db(change.connection)
            .update(
                state=TwoFactorState.ACTIVE, enabled_at=now, pending_expires_at=None, last_step=step
            )
        )
        if won != 1:
            # Another request confirmed first, or the setup was cancelled or replaced.
            if await TwoFactor.exists(account_id=account.id, state=TwoFactorState.ACTIVE):
                raise TwoFactorAlreadyEnabled()
            raise NoPendingSetup(field="code")
        codes = await backup_codes.replace_batch(rt, account.id, change.connection)
        await change.record_event(SecurityEventKind.TWO_FACTOR_ENABLED)
        await change.notify(NotificationKind.TWO_FACTOR_ENABLED)
    return codes


async def accept_totp(rt: Runtime, account_id: int, code: str) -> None:
    """Check a sign-in TOTP code against the active device, with the replay guard."""
    device = await TwoFactor.get_or_none(account_id=account_id, state=TwoFactorState.ACTIVE)
    if device is None:
        raise InvalidCode(field="code")
    secret = rt.keys.decrypt(device.encrypted_secret).decode("ascii")
    step = totp.matching_step(secret, code, rt.clock.now())
    if step is None:
        raise InvalidCode(field="code")
    # Only a step after the last accepted one passes; the WHERE makes it atomic across
    # requests and processes (`UPDATE … WHERE last_step < :step`).
    accepted = await TwoFactor.filter(
        Q(last_step__isnull=True) | Q(last_step__lt=step),
        id=device.id,
        state=TwoFactorState.ACTIVE,
    ).update(last_step=step)
    if accepted != 1:
        raise CodeAlreadyUsed(field="code")


async def disable(
    rt: Runtime, account: Account, password: str, confirmed: bool, meta: RequestMeta
) -> None:
    if not await TwoFactor.exists(account_id=account.id, state=TwoFactorState.ACTIVE):
        raise TwoFactorNotEnabled()
    if not confirmed:
        raise ConfirmationRequired(field="confirm")
    await check_password(rt, account, password, meta)
    async with changes.account_change(rt, account, meta) as change:
        if not await turn_off(change):  # a concurrent request turned it off first
            raise TwoFactorNotEnabled()  # one change, one email
        await change.record_event(SecurityEventKind.TWO_FACTOR_DISABLED)
        await change.notify(NotificationKind.TWO_FACTOR_DISABLED)


async def turn_off(change: Change) -> bool:
    """2FA off, in the change's transaction: the device and its secret, every backup code,
    every open sign-in challenge. False when it was off already. The caller records why
    (the customer's own `disable`, or support approving a recovery request)."""
    account_id = change.account.id
    connection = change.connection
    removed = await TwoFactor.filter(account_id=account_id).using_db(connection).delete()
    await BackupCode.filter(account_id=account_id).using_db(connection).delete()
    # Remembered devices skipped a second factor that no longer exists.
    await remembered_devices.forget_all(account_id, connection)
    await (
        SignInChallenge.filter(account_id=account_id, used_at=None)
        .using_db(connection)
        .update(used_at=change.rt.clock.now())
    )
    return removed > 0
