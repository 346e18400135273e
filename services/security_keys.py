"""Registering security keys and passkeys (WebAuthn credentials) as second factors.

`start` asks the password again and stores a single-use challenge (its digest) for five
minutes; `finish` verifies the browser's answer against it (services.webauthn_rp) and stores
the credential. The first authenticator of an account turns 2FA on and makes the backup codes
(services.two_factor.turn_on); an account holds up to MAX_KEYS keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from models import Account, SecurityKey, WebAuthnChallenge
from models.two_factor import WebAuthnChallengePurpose
from services import (
    changes,
    key_challenges,
    security_events,
    throttle,
    two_factor,
    validation,
    webauthn_rp,
)
from services.accounts import check_password
from services.errors import InvalidInput, SecurityKeyRejected
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind

MAX_KEYS = 10
NAME_MAX = 64
CEREMONY_SECONDS = 5 * 60


@dataclass(frozen=True)
class Registration:
    options: dict[str, Any]
    expires_at: datetime


@dataclass(frozen=True)
class Registered:
    key: SecurityKey
    # The ten backup codes when this key turned 2FA on; None otherwise.
    backup_codes: list[str] | None


def registration_subject(account_id: int) -> str:
    """Failed key registrations of a signed-in account, counted apart from its sign-ins."""
    return f"security-key-registration:{account_id}"


async def _user_handle(account_id: int) -> str:
    """One user.id per account: an authenticator that already holds a credential for it
    replaces that one instead of piling up a second."""
    first = await SecurityKey.filter(account_id=account_id).order_by("id").first()
    return first.user_handle if first else webauthn_rp.new_user_handle()


async def start(
    rt: Runtime, account: Account, password: str, passkey: bool, meta: RequestMeta
) -> Registration:
    rp = webauthn_rp.relying_party(rt.settings)
    await check_password(rt, account, password)
    if await SecurityKey.filter(account_id=account.id).count() >= MAX_KEYS:
        raise InvalidInput("AUTHENTICATOR_LIMIT", params={"max": MAX_KEYS})
    now = rt.clock.now()
    challenge = webauthn_rp.new_challenge()
    handle = await _user_handle(account.id)
    expires_at = now + timedelta(seconds=CEREMONY_SECONDS)
    await WebAuthnChallenge.create(
        challenge_hash=webauthn_rp.challenge_digest(challenge),
        purpose=WebAuthnChallengePurpose.REGISTER,
        account_id=account.id,
        user_handle=handle,
        passkey=passkey,
        created_at=now,
        expires_at=expires_at,
    )
    existing = await key_challenges.known_keys(account.id, usable_only=False)
    options = webauthn_rp.registration_options(
        rp,
        challenge=challenge,
        user_handle=handle,
        user_name=account.email,
        display_name=account.company_name or account.email,
        exclude=existing,
        passkey=passkey,
        timeout_seconds=CEREMONY_SECONDS,
    )
    return Registration(options, expires_at)


async def finish(
    rt: Runtime, account: Account, credential: object, name: str, meta: RequestMeta
) -> Registered:
    key_name = validation.required_text(name, "name", NAME_MAX)
    rp = webauthn_rp.relying_party(rt.settings)
    attempt = await throttle.begin_attempt(rt, registration_subject(account.id))
    try:
        answer = webauthn_rp.read_answer(credential, registration=True)
        # The ceremony is spent by this answer, good or bad: one answer per challenge.
        now = rt.clock.now()
        ceremony = await WebAuthnChallenge.get_or_none(
            challenge_hash=webauthn_rp.challenge_digest(answer.challenge),
            purpose=WebAuthnChallengePurpose.REGISTER,
            account_id=account.id,
            used_at=None,
            expires_at__gt=now,
        )
        if ceremony is None:
            raise SecurityKeyRejected(field="credential")
        spent = await WebAuthnChallenge.filter(id=ceremony.id, used_at=None).update(used_at=now)
        if spent != 1:  # a parallel request answered this challenge first
            raise SecurityKeyRejected(field="credential")
        new = webauthn_rp.verify_registration(
            rp,
            answer,
            expected_digest=ceremony.challenge_hash,
            require_user_verification=ceremony.passkey,
        )
        if ceremony.passkey and not new.discoverable:
            raise SecurityKeyRejected(field="credential")
    except SecurityKeyRejected:
        await security_events.record(rt, account.id, SecurityEventKind.SECURITY_KEY_REJECTED, meta)
        raise
    await attempt.succeeded()
    return await _store(rt, account, meta, ceremony, new, key_name)


async def _store(
    rt: Runtime,
    account: Account,
    meta: RequestMeta,
    ceremony: WebAuthnChallenge,
    new: webauthn_rp.NewCredential,
    name: str,
) -> Registered:
    now = rt.clock.now()
    try:
        async with changes.account_change(rt, account, meta) as change:
            await two_factor.lock_account(change)
            if (
                await SecurityKey.filter(account_id=account.id).using_db(change.connection).count()
                >= MAX_KEYS
            ):
                raise InvalidInput("AUTHENTICATOR_LIMIT", params={"max": MAX_KEYS})
            key = await SecurityKey.create(
                using_db=change.connection,
                account_id=account.id,
                credential_digest=new.credential_digest,
                credential_id=new.credential_id,
                public_key=new.public_key,
                user_handle=ceremony.user_handle or webauthn_rp.new_user_handle(),
                sign_count=new.sign_count,
                transports=",".join(new.transports),
                discoverable=new.discoverable,
                passkey=ceremony.passkey and new.discoverable and new.user_verified,
                backed_up=new.backed_up,
                aaguid=new.aaguid,
                name=name,
                created_at=now,
            )
            codes = await two_factor.turn_on(change)
            await change.record_event(SecurityEventKind.AUTHENTICATOR_ADDED)
            if codes is not None:
                await change.record_event(SecurityEventKind.TWO_FACTOR_ENABLED)
                await change.notify(
                    NotificationKind.TWO_FACTOR_ENABLED, {"method": "SECURITY_KEY", "name": name}
                )
            else:
                await change.notify(
                    NotificationKind.AUTHENTICATOR_ADDED, {"kind": "SECURITY_KEY", "name": name}
                )
    except IntegrityError:
        # The credential is registered already (to this account or another): the
        # excludeCredentials list should have stopped the browser from making it.
        raise SecurityKeyRejected(field="credential") from None
    return Registered(key, codes)
