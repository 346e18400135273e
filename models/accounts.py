from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    CUSTOMER = "customer"
    SUPPORT = "support"


class Locale(StrEnum):
    FR = "fr"
    EN = "en"


class Account(Model):
    id = fields.IntField(primary_key=True)
    # Stored case-folded; unique on that form.
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    company_name = fields.CharField(max_length=200, null=True)
    billing_contact_email = fields.CharField(max_length=254)
    locale = fields.CharEnumField(Locale, max_length=2, default=Locale.FR)
    role = fields.CharEnumField(Role, max_length=16, default=Role.CUSTOMER)
    created_at = fields.DatetimeField()

    class Meta:
        table = "account"


class Session(Model):
    """A bearer session. Only the SHA-256 of its token is stored."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="sessions", on_delete=fields.CASCADE
    )
    account_id: int
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    ip_address = fields.CharField(max_length=45, null=True)
    user_agent = fields.CharField(max_length=512, null=True)

    class Meta:
        table = "session"


class SignInChallenge(Model):
    """The second step of a sign-in with 2FA: the password was right, a code is due."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="challenges", on_delete=fields.CASCADE
    )
    account_id: int
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    # Incremented before a code is checked, so the cap holds under parallel requests.
    attempts = fields.IntField(default=0)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sign_in_challenge"
