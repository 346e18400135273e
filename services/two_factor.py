"""2FA on and off, and the TOTP app's lifecycle: start, confirm, cancel, disable.

2FA is on while the account has an authenticator: a TOTP app or a security key
(services.security_keys). The first one added turns it on (`turn_on`: the backup codes are
made then, shown once); removing the last one, `disable` or an approved recovery turns it off
(`turn_off`: every authenticator and backup code goes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import (
    Account,
    BackupCode,
    SecurityKey,
    SignInChallenge,
    TwoFactor,
    WebAuthnChallenge,
)
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
    """A pending TOTP app: also when 2FA is on through security keys only (it adds the app);
    TwoFactorAlreadyEnabled when a TOTP app is set up already."""
    if await TwoFactor.exists(account_id=account.id, state=TwoFactorState.ACTIVE):
        raise TwoFactorAlreadyEnabled()
    await check_password(rt, account, password)
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
            encrypted_secret=rt.keys.encrypt(secret.encode()),
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


async def confirm(rt: Runtime, account: Account, code: str, meta: RequestMeta) -> list[str] | None:
    """Activate the TOTP app with its first good code. When this turns 2FA on, the backup
    codes, shown this once; None when security keys had turned it on already (the codes
    made then stay valid)."""
    device = await TwoFactor.get_or_none(account_id=account.id)
    if device is None:
        raise NoPendingSetup(field="code")
    if device.state == TwoFactorState.ACTIVE:
        raise TwoFactorAlreadyEnabled()
    now = rt.clock.now()
    if device.pending_expires_at is None or device.pending_expires_at <= now:
        raise SetupExpired(field="code")
    attempt = await begin_attempt(rt, second_factor_subject(account.id))
    secret = rt.keys.decrypt(device.encrypted_secret).decode()
    step = totp.matching_step(secret, totp.normalize_code(code), now)
    if step is None:
        await security_events.record(rt, account.id, SecurityEventKind.SECOND_FACTOR_FAILED, meta)
        raise InvalidCode(field="code")
    # The code was right: whatever happens next, it is not a failed guess.
    await attempt.succeeded()
    async with changes.account_change(rt, account, meta) as change:
        await lock_account(change)
        # The one conditional UPDATE that decides: of concurrent confirmations, one wins,
        # and the step it stores makes the confirming code unusable for sign-in.
        won = (
            await TwoFactor.filter(
                id=device.id,
                account_id=account.id,
                state=TwoFactorState.PENDING,
                pending_expires_at__gt=now,
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
        codes = await turn_on(change)
        if codes is not None:
            await change.record_event(SecurityEventKind.TWO_FACTOR_ENABLED)
            await change.notify(NotificationKind.TWO_FACTOR_ENABLED)
        else:
            await change.record_event(SecurityEventKind.AUTHENTICATOR_ADDED)
            await change.notify(
                NotificationKind.AUTHENTICATOR_ADDED,
                {"kind": "TOTP"},
                message_key="NOTIFICATION_AUTHENTICATOR_ADDED_TOTP",
            )
    return codes


async def lock_account(change: Change) -> None:
    """Lock the account's row for the rest of the change (PostgreSQL; SQLite runs one write
    transaction at a time) and refresh its 2FA columns: adding or removing authenticators
    then happens one change at a time, so the last one removed always turns 2FA off."""
    row = (
        await Account.filter(id=change.account.id)
        .using_db(change.connection)
        .select_for_update()
        .get()
    )
    change.account.two_factor_enabled_at = row.two_factor_enabled_at
    change.account.backup_codes_generated_at = row.backup_codes_generated_at


async def turn_on(change: Change) -> list[str] | None:
    """After an authenticator was added in the change: 2FA on, with a fresh batch of backup
    codes, returned to be shown once; None when it was on already."""
    now = change.rt.clock.now()
    won = (
        await Account.filter(id=change.account.id, two_factor_enabled_at=None)
        .using_db(change.connection)
        .update(two_factor_enabled_at=now)
    )
    if won != 1:
        return None
    change.account.two_factor_enabled_at = now
    return await backup_codes.replace_batch(change.rt, change.account, change.connection)


async def accept_totp(rt: Runtime, account_id: int, code: str) -> None:
    """Check a sign-in TOTP code against the active device, with the replay guard."""
    device = await TwoFactor.get_or_none(account_id=account_id, state=TwoFactorState.ACTIVE)
    if device is None:
        raise InvalidCode(field="code")
    secret = rt.keys.decrypt(device.encrypted_secret).decode()
    step = totp.matching_step(secret, code, rt.clock.now())
    if step is None:
        raise InvalidCode(field="code")
    # Only a step after the last accepted one passes; the WHERE makes it atomic across
    # requests and processes (`UPDATE … WHERE last_step < :step`).
    accepted = await TwoFactor.filter(
        Q(last_step__isnull=True) | Q(last_step__lt=step),
        id=device.id,
        state=TwoFactorState.ACTIVE,
    ).update(last_step=step, last_used_at=rt.clock.now())
    if accepted != 1:
        raise CodeAlreadyUsed(field="code")


async def disable(
    rt: Runtime, account: Account, password: str, confirmed: bool, meta: RequestMeta
) -> None:
    """2FA off: every authenticator (the TOTP app and each security key) goes."""
    if not await Account.exists(id=account.id, two_factor_enabled_at__not_isnull=True):
        raise TwoFactorNotEnabled()
    if not confirmed:
        raise ConfirmationRequired(field="confirm")
    await check_password(rt, account, password)
    async with changes.account_change(rt, account, meta) as change:
        if not await turn_off(change):  # a concurrent request turned it off first
            raise TwoFactorNotEnabled()  # one change, one email
        await change.record_event(SecurityEventKind.TWO_FACTOR_DISABLED)
        await change.notify(NotificationKind.TWO_FACTOR_DISABLED)


async def turn_off(change: Change) -> bool:
    """2FA off, in the change's transaction: every authenticator (the TOTP app and its
    secret, each security key), every backup code, every open sign-in challenge and key
    registration. False when it was off already. The caller records why (the customer's own
    `disable`, the last authenticator removed, or support approving a recovery request)."""
    account = change.account
    connection = change.connection
    now = change.rt.clock.now()
    # The conditional UPDATE decides between concurrent requests: one turns it off.
    turned_off = (
        await Account.filter(id=account.id, two_factor_enabled_at__not_isnull=True)
        .using_db(connection)
        .update(two_factor_enabled_at=None, backup_codes_generated_at=None)
    )
    account.two_factor_enabled_at = None
    account.backup_codes_generated_at = None
    await TwoFactor.filter(account_id=account.id).using_db(connection).delete()
    await SecurityKey.filter(account_id=account.id).using_db(connection).delete()
    await WebAuthnChallenge.filter(account_id=account.id).using_db(connection).delete()
    await BackupCode.filter(account_id=account.id).using_db(connection).delete()
    # Remembered devices skipped a second factor that no longer exists.
    await remembered_devices.forget_all(account.id, connection)
    await (
        SignInChallenge.filter(account_id=account.id, used_at=None)
        .using_db(connection)
        .update(used_at=now)
    )
    return turned_off > 0
