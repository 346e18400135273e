"""The security-key part of a sign-in challenge: which second factors it accepts, and the
WebAuthn request options (with a fresh challenge, stored as its digest) when the account has
keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models import SecurityKey, TwoFactor
from models.two_factor import TwoFactorState
from services import webauthn_rp
from services.errors import InvalidInput
from services.runtime import Runtime

TOTP = "TOTP"
SECURITY_KEY = "SECURITY_KEY"
BACKUP_CODE = "BACKUP_CODE"


@dataclass(frozen=True)
class SecondStep:
    """What the challenge offers: `methods` in the API's SecondFactorKind names."""

    methods: list[str]
    options: dict[str, Any] | None = None
    challenge_digest: str | None = None


async def known_keys(
    account_id: int, *, usable_only: bool = True
) -> list[webauthn_rp.KnownCredential]:
    """The account's keys as options name them; `usable_only`: those that may answer (a
    flagged key is refused, so never offered)."""
    keys = SecurityKey.filter(account_id=account_id)
    if usable_only:
        keys = keys.filter(flagged_at=None)
    return [
        webauthn_rp.KnownCredential(key.credential_id, [t for t in key.transports.split(",") if t])
        for key in await keys.order_by("id")
    ]


async def second_step(rt: Runtime, account_id: int) -> SecondStep:
    totp_on = await TwoFactor.exists(account_id=account_id, state=TwoFactorState.ACTIVE)
    methods = [TOTP] if totp_on else []
    keys = await known_keys(account_id)
    options: dict[str, Any] | None = None
    digest: str | None = None
    if keys:
        try:
            rp = webauthn_rp.relying_party(rt.settings)
        except InvalidInput:
            rp = None  # PUBLIC_URL on an IP address: keys cannot answer here
        if rp is not None:
            challenge = webauthn_rp.new_challenge()
            options = webauthn_rp.authentication_options(
                rp,
                challenge=challenge,
                allow=keys,
                user_verification=False,
                timeout_seconds=rt.settings.challenge_ttl_seconds,
            )
            digest = webauthn_rp.challenge_digest(challenge)
            methods.append(SECURITY_KEY)
    return SecondStep([*methods, BACKUP_CODE], options, digest)
