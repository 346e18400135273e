from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.accounts import Account


class TwoFactorState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"


class TwoFactor(Model):
    """An account's TOTP device: pending until the first good code, then active."""

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
    backup_codes_generated_at = fields.DatetimeField(null=True)

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
