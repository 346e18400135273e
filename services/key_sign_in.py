"""Signing in with a security key: as the second step of a sign-in challenge, or without a
password with a passkey.

Both verify the assertion with services.webauthn_rp (origin, RP ID hash, the single-use
challenge, user presence, the signature), then the sign count: a key that counts must report
more than last time, or it is refused, the refusal recorded (SECURITY_KEY_FLAGGED) and the
key flagged, refused from then on until the customer removes it.

Failures count where codes count: at the second step, against the challenge (5) and the
account (MAX_FAILURES per window); a passkey sign-in against the client address, and once the
credential names an account, against that account too. An unknown credential is refused like
a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Q

from models import Account, SecurityKey, WebAuthnChallenge
from models.two_factor import WebAuthnChallengePurpose
from services import (
    changes,
    recovery_schedule,
    remembered_devices,
    security_events,
    sign_in_alerts,
    sign_in_challenges,
    throttle,
    webauthn_rp,
)
from services.accounts import IssuedSession, open_session
from services.changes import Change
from services.crypto import new_token, token_digest
from services.errors import SecurityKeyRejected
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind
from services.sign_in_challenges import VerifiedSignIn

PASSKEY_SECONDS = 5 * 60
# Passwordless sign-ins started per client address and window: each stores a row.
PASSKEY_STARTS_PER_WINDOW = 100


def passkey_subject(ip_address: str | None) -> str:
    return f"passkey:{ip_address or 'unknown'}"


async def _flag(rt: Runtime, account: Account, key: SecurityKey, meta: RequestMeta) -> None:
    """The key's counter went backwards: two copies of it may exist. Refused from now on,
    and the owner told (feed, live and email): a copy would be in someone else's hands."""
    async with changes.account_change(rt, account, meta) as change:
        flagged = (
            await SecurityKey.filter(id=key.id, flagged_at=None)
            .using_db(change.connection)
            .update(flagged_at=rt.clock.now())
        )
        if flagged:
            await change.record_event(SecurityEventKind.SECURITY_KEY_FLAGGED)
            await change.notify(NotificationKind.SECURITY_KEY_FLAGGED, {"name": key.name})


async def _verified_key(
    rt: Runtime,
    meta: RequestMeta,
    account: Account,
    answer: webauthn_rp.Answer,
    key: SecurityKey,
    *,
    expected_digest: str,
    require_user_verification: bool,
) -> int:
    """Verify `answer` as `key`'s; its new sign count. SecurityKeyRejected otherwise."""
    if key.flagged_at is not None:
        raise SecurityKeyRejected(field="credential")
    rp = webauthn_rp.relying_party(rt.settings)
    assertion = webauthn_rp.verify_assertion(
        rp,
        answer,
        expected_digest=expected_digest,
        public_key=key.public_key,
        require_user_verification=require_user_verification,
    )
    if webauthn_rp.counter_went_back(key.sign_count, assertion.sign_count):
        await _flag(rt, account, key, meta)
        raise SecurityKeyRejected(field="credential")
    return assertion.sign_count


async def _record_use(change: Change, key: SecurityKey, sign_count: int) -> None:
    """The new count, conditional on the stored one still being lower (two answers of one
    key cannot both move it), and the use in the history."""
    # A key that does not count (0) stays at 0; one that counts moves strictly forward.
    counted = Q(sign_count__lt=sign_count) if sign_count > 0 else Q(sign_count=0)
    moved = (
        await SecurityKey.filter(counted, id=key.id, flagged_at=None)
        .using_db(change.connection)
        .update(sign_count=sign_count, last_used_at=change.rt.clock.now())
    )
    if moved != 1:
        raise SecurityKeyRejected(field="credential")
    await change.record_event(SecurityEventKind.SECURITY_KEY_USED)


async def verify_second_step(
    rt: Runtime,
    meta: RequestMeta,
    *,
    token: str,
    credential: object,
    remember_device: bool = False,
) -> VerifiedSignIn:
    """verifySignInWithSecurityKey: the challenge of signIn answered by one of its keys."""
    if remember_device:
        remembered_devices.require_enabled(rt, "remember_device")
    challenge = await sign_in_challenges.find_live(rt, token)
    if challenge.webauthn_challenge_hash is None:
        # The account had no key when signIn opened this challenge: nothing can answer it.
        raise SecurityKeyRejected(field="credential")
    account = challenge.account
    attempt = await sign_in_challenges.take_attempt(rt, challenge)
    try:
        answer = webauthn_rp.read_answer(credential, registration=False)
        key = await SecurityKey.get_or_none(
            credential_digest=webauthn_rp.credential_digest(answer.raw_id),
            account_id=account.id,
        )
        if key is None:  # unknown, or another account's
            raise SecurityKeyRejected(field="credential")
        sign_count = await _verified_key(
            rt,
            meta,
            account,
            answer,
            key,
            expected_digest=challenge.webauthn_challenge_hash,
            require_user_verification=False,
        )
    except SecurityKeyRejected:
        await security_events.record(rt, account.id, SecurityEventKind.SECURITY_KEY_REJECTED, meta)
        async with changes.account_change(rt, account, meta) as change:
            await sign_in_alerts.second_factor_failed(change)
        raise
    await attempt.succeeded()

    async def record_use(change: Change) -> None:
        await _record_use(change, key, sign_count)

    return await sign_in_challenges.complete(
        rt, meta, challenge, remember_device=remember_device, on_success=record_use
    )


@dataclass(frozen=True)
class PasskeySignIn:
    token: str
    options: dict[str, object]
    expires_at: datetime


async def start_passkey(rt: Runtime, meta: RequestMeta) -> PasskeySignIn:
    """Options without allowCredentials: the passkey the person picks names the account."""
    rp = webauthn_rp.relying_party(rt.settings)
    # Each start stores a row: a client address starts a bounded number per window.
    await throttle.begin_attempt(
        rt, "passkey-start:" + (meta.ip_address or "unknown"), limit=PASSKEY_STARTS_PER_WINDOW
    )
    now = rt.clock.now()
    challenge = webauthn_rp.new_challenge()
    token = new_token()
    expires_at = now + timedelta(seconds=PASSKEY_SECONDS)
    await WebAuthnChallenge.create(
        challenge_hash=webauthn_rp.challenge_digest(challenge),
        token_hash=token_digest(token),
        purpose=WebAuthnChallengePurpose.PASSKEY_SIGN_IN,
        created_at=now,
        expires_at=expires_at,
    )
    options = webauthn_rp.authentication_options(
        rp, challenge=challenge, allow=[], user_verification=True, timeout_seconds=PASSKEY_SECONDS
    )
    return PasskeySignIn(token, options, expires_at)


async def finish_passkey(
    rt: Runtime, meta: RequestMeta, *, token: str, credential: object
) -> IssuedSession:
    """A passkey with user verification is both factors: a session, no password asked."""
    attempt = await throttle.begin_attempt(rt, passkey_subject(meta.ip_address))
    now = rt.clock.now()
    ceremony = await WebAuthnChallenge.get_or_none(
        token_hash=token_digest(token),
        purpose=WebAuthnChallengePurpose.PASSKEY_SIGN_IN,
        used_at=None,
        expires_at__gt=now,
    )
    # Spent by this answer, good or bad: of concurrent uses, one goes on.
    if (
        ceremony is None
        or await WebAuthnChallenge.filter(id=ceremony.id, used_at=None).update(used_at=now) != 1
    ):
        raise SecurityKeyRejected(field="token")
    answer = webauthn_rp.read_answer(credential, registration=False)
    key = await SecurityKey.get_or_none(
        credential_digest=webauthn_rp.credential_digest(answer.raw_id)
    ).select_related("account")
    if key is None or not key.passkey:  # unknown, or a second factor only
        raise SecurityKeyRejected(field="credential")
    account: Account = key.account
    account_attempt = await throttle.begin_attempt(rt, throttle.second_factor_subject(account.id))
    try:
        handle = webauthn_rp.user_handle_of(answer)
        if handle is not None and handle != key.user_handle:
            raise SecurityKeyRejected(field="credential")
        sign_count = await _verified_key(
            rt,
            meta,
            account,
            answer,
            key,
            expected_digest=ceremony.challenge_hash,
            require_user_verification=True,
        )
    except SecurityKeyRejected:
        await security_events.record(rt, account.id, SecurityEventKind.SECURITY_KEY_REJECTED, meta)
        raise
    await attempt.succeeded()
    await account_attempt.succeeded()
    async with changes.account_change(rt, account, meta) as change:
        await _record_use(change, key, sign_count)
        await sign_in_alerts.signed_in(change, remembered=False)
        await recovery_schedule.cancel_scheduled(change, reason=recovery_schedule.BY_SIGN_IN)
        return await open_session(rt, account, meta, change.connection)
