"""The second step of signing in: a TOTP code or a backup code against a challenge (a
security key's answer goes through services.key_sign_in, which ends the same way)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tortoise.expressions import F

from models import SignInChallenge
from services import (
    backup_codes,
    changes,
    emails,
    recovery_schedule,
    remembered_devices,
    sign_in_alerts,
    totp,
    two_factor,
)
from services.accounts import IssuedSession, open_session
from services.changes import Change
from services.crypto import token_digest
from services.device_sessions import device_label
from services.errors import ChallengeExpired, InvalidCode, SecondFactorError
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind
from services.status import remaining_backup_codes
from services.throttle import Attempt, begin_attempt, second_factor_subject


@dataclass(frozen=True)
class VerifiedSignIn:
    issued: IssuedSession
    used_backup_code: bool
    backup_codes_remaining: int
    # With rememberDevice: the token the browser sends as signIn's deviceToken.
    device_token: str | None = None


async def find_live(rt: Runtime, token: str) -> SignInChallenge:
    challenge = await SignInChallenge.get_or_none(
        token_hash=token_digest(token),
        used_at=None,
        expires_at__gt=rt.clock.now(),
        attempts__lt=rt.settings.challenge_max_attempts,
    ).select_related("account")
    if challenge is None:
        raise ChallengeExpired(field="challenge_token")
    return challenge


async def verify(
    rt: Runtime, meta: RequestMeta, *, token: str, code: str, remember_device: bool = False
) -> VerifiedSignIn:
    if remember_device:
        remembered_devices.require_enabled(rt, "remember_device")
    challenge = await find_live(rt, token)
    account = challenge.account
    attempt = await take_attempt(rt, challenge)

    normalized = totp.normalize_code(code)
    used_backup_code = not totp.looks_like_totp(normalized)
    try:
        if used_backup_code:
            if not await backup_codes.spend(rt, account.id, normalized):
                raise InvalidCode(field="code")
        else:
            await two_factor.accept_totp(rt, account.id, normalized)
    except SecondFactorError:
        async with changes.account_change(rt, account, meta) as change:
            await sign_in_alerts.second_factor_failed(change)
        raise

    # The code was right: whatever happens next, it is not a failed guess.
    await attempt.succeeded()
    return await complete(
        rt,
        meta,
        challenge,
        used_backup_code=used_backup_code,
        remember_device=remember_device,
    )


async def take_attempt(rt: Runtime, challenge: SignInChallenge) -> Attempt:
    """Count a guess at `challenge` twice: for the account (per-account window) and for the
    challenge itself (its attempt cap), before the factor is looked at."""
    attempt = await begin_attempt(rt, second_factor_subject(challenge.account_id))
    # Take one of the challenge's attempts before looking at the factor: the conditional
    # UPDATE caps guesses per challenge even when they arrive together.
    taken = await SignInChallenge.filter(
        id=challenge.id,
        used_at=None,
        expires_at__gt=rt.clock.now(),
        attempts__lt=rt.settings.challenge_max_attempts,
    ).update(attempts=F("attempts") + 1)
    if taken != 1:
        await attempt.succeeded()  # no factor was checked: not a failure of the account's
        raise ChallengeExpired(field="challenge_token")
    return attempt


async def complete(
    rt: Runtime,
    meta: RequestMeta,
    challenge: SignInChallenge,
    *,
    used_backup_code: bool = False,
    remember_device: bool = False,
    on_success: Callable[[Change], Awaitable[None]] | None = None,
) -> VerifiedSignIn:
    """The second factor was right: close the challenge (one request wins) and open the
    session, with what a sign-in tells and records. `on_success` adds the factor's own
    writes (a key's new sign count) to the same transaction."""
    account = challenge.account
    async with changes.account_change(rt, account, meta) as change:
        closed = (
            await SignInChallenge.filter(id=challenge.id, used_at=None)
            .using_db(change.connection)
            .update(used_at=rt.clock.now())
        )
        if closed != 1:  # a parallel request finished this challenge first
            raise ChallengeExpired(field="challenge_token")
        if on_success is not None:
            await on_success(change)
        remaining = await remaining_backup_codes(account.id, change.connection)
        if used_backup_code:
            await change.record_event(SecurityEventKind.BACKUP_CODE_USED)
            await _warn_backup_code_used(change, remaining)
        await sign_in_alerts.signed_in(change, remembered=False)
        # The owner still has a second factor: a recovery waiting to turn 2FA off is not theirs
        # to need (or not theirs at all).
        await recovery_schedule.cancel_scheduled(change, reason=recovery_schedule.BY_SIGN_IN)
        device_token: str | None = None
        remembered_id: int | None = None
        if remember_device:
            device_token, device = await remembered_devices.remember(
                rt, account, meta, change.connection
            )
            remembered_id = device.id
            await change.record_event(SecurityEventKind.DEVICE_REMEMBERED)
            await _tell_device_remembered(change, device.expires_at)
        issued = await open_session(
            rt, account, meta, change.connection, remembered_device_id=remembered_id
        )
    return VerifiedSignIn(
        issued=issued,
        used_backup_code=used_backup_code,
        backup_codes_remaining=remaining,
        device_token=device_token,
    )


async def _tell_device_remembered(change: Change, until: datetime) -> None:
    """DEVICE_REMEMBERED, emailed too: a stranger who knows the password and got past the
    second factor once would skip it from this browser until `until`."""
    rt = change.rt
    local_until = until.astimezone(ZoneInfo(rt.settings.time_zone))
    await change.notify(
        NotificationKind.DEVICE_REMEMBERED,
        {
            "device": device_label(change.meta.user_agent) or "unknown",
            "until": local_until.date().isoformat(),
        },
        email_params={
            "until_when": emails.format_when(until, change.account.locale, rt.settings.time_zone)
        },
    )


async def _warn_backup_code_used(change: Change, remaining: int) -> None:
    params: dict[str, object] = {"remaining": remaining}
    await change.notify(NotificationKind.BACKUP_CODE_USED, params)
    if remaining <= change.rt.settings.backup_codes_low_threshold:
        await change.notify(NotificationKind.BACKUP_CODES_LOW, params)
