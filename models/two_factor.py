from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.accounts import Account


class TwoFactorState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"


class TwoFactor(Model):
    """An account's TOTP app: pending until the first good code, then active. Whether 2FA is
    on is the account's `two_factor_enabled_at` (a TOTP app or a security key turned it on)."""

    id = fields.IntField(primary_key=True)
    account: fields.OneToOneRelation[Account] = fields.OneToOneField(
        "models.Account", related_name="two_factor", on_delete=fields.CASCADE
    )
    account_id: int
    # Fernet token of the base32 secret (services.crypto.KeyRing).
    encrypted_secret = fields.TextField()
    state = fields.CharEnumField(TwoFactorState, max_length=16)
    created_at = fields.DatetimeField()
    pending_expires_at = fields.DatetimeField(null=True)
    enabled_at = fields.DatetimeField(null=True)
    # Replay guard: the TOTP time step last accepted; only a later step verifies.
    last_step = fields.BigIntField(null=True)
    # The customer's name for it (renameAuthenticator); null: the localised default.
    name = fields.CharField(max_length=64, null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "two_factor"


class BackupCode(Model):
    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="backup_codes", on_delete=fields.CASCADE
    )
    account_id: int
    batch_id = fields.CharField(max_length=32)
    # HMAC-SHA256 of the normalised code (services.crypto.KeyRing.digests).
    digest = fields.CharField(max_length=64, db_index=True)
    created_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "backup_code"
        # Every signed-in request counts an account's unused codes (services.status).
        indexes = (("account_id", "used_at"),)


class SecurityKey(Model):
    """A WebAuthn credential (security key or passkey) registered as a second factor."""

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="security_keys", on_delete=fields.CASCADE
    )
    account_id: int
    # SHA-256 (hex) of the raw credential id: the unique lookup key of an assertion.
    credential_digest = fields.CharField(max_length=64, unique=True)
    # base64url of the raw credential id (up to 1023 bytes) and of the COSE public key.
    credential_id = fields.TextField()
    public_key = fields.TextField()
    # The user.id (base64url) the credential was created for; one per account.
    user_handle = fields.CharField(max_length=88)
    sign_count = fields.BigIntField(default=0)
    # Comma-separated AuthenticatorTransport values the browser reported ("usb,nfc").
    transports = fields.CharField(max_length=200, default="")
    # Discoverable (a resident key, per the browser's credProps), and registered as a passkey
    # (discoverable, with user verification, asked for): only a passkey signs in on its own.
    discoverable = fields.BooleanField(default=False)
    passkey = fields.BooleanField(default=False)
    backed_up = fields.BooleanField(default=False)
    aaguid = fields.CharField(max_length=36, default="")
    name = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)
    # Set when its signature counter went backwards (a possible clone): refused from then on.
    flagged_at = fields.DatetimeField(null=True)

    class Meta:
        table = "security_key"
        indexes = (("account_id",),)


class WebAuthnChallengePurpose(StrEnum):
    REGISTER = "register"
    PASSKEY_SIGN_IN = "passkey_sign_in"


class WebAuthnChallenge(Model):
    """A WebAuthn ceremony outside the sign-in challenge: registering a key, or a passwordless
    passkey sign-in. Single-use; only SHA-256 digests of the challenge and token are stored."""

    id = fields.IntField(primary_key=True)
    challenge_hash = fields.CharField(max_length=64, unique=True)
    # PASSKEY_SIGN_IN: the digest of the token finishPasskeySignIn sends back.
    token_hash = fields.CharField(max_length=64, unique=True, null=True)
    purpose = fields.CharEnumField(WebAuthnChallengePurpose, max_length=16)
    # REGISTER: the account, the user handle offered, and whether a passkey was asked for.
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="webauthn_challenges", null=True, on_delete=fields.CASCADE
    )
    account_id: int | None
    user_handle = fields.CharField(max_length=88, null=True)
    passkey = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webauthn_challenge"
        indexes = (("account_id",),)
