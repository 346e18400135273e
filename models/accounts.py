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
    # Security emails reach the billing contact only once it has opened its verification
    # link; the account email itself counts as verified.
    # db_default: the column is added to tables that already have rows (migration 0007).
    billing_contact_verified = fields.BooleanField(default=False, db_default=False)
    locale = fields.CharEnumField(Locale, max_length=2, default=Locale.FR)
    role = fields.CharEnumField(Role, max_length=16, default=Role.CUSTOMER)
    created_at = fields.DatetimeField()
    # 2FA is on while this is set: the first authenticator (a TOTP app or a security key) set
    # it, and turning 2FA off (the last one removed, disable, a recovery) clears it.
    two_factor_enabled_at = fields.DatetimeField(null=True)
    # When the current batch of backup codes was made (null while 2FA is off).
    backup_codes_generated_at = fields.DatetimeField(null=True)

    @property
    def two_factor_on(self) -> bool:
        return self.two_factor_enabled_at is not None

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
    # Indexed for the purge (services.purge), which deletes by each of the three.
    expires_at = fields.DatetimeField(db_index=True)
    last_seen_at = fields.DatetimeField(db_index=True)
    revoked_at = fields.DatetimeField(null=True, db_index=True)
    ip_address = fields.CharField(max_length=45, null=True)
    user_agent = fields.CharField(max_length=512, null=True)
    # The remembered device this session was opened from or remembered as (rememberedUntil).
    remembered_device: fields.ForeignKeyNullableRelation[RememberedDevice] = fields.ForeignKeyField(
        "models.RememberedDevice",
        related_name="sessions",
        null=True,
        on_delete=fields.SET_NULL,
    )
    remembered_device_id: int | None

    class Meta:
        table = "session"
        # An account's open sessions: the device list, ending them (services.changes). A
        # remembered device's sessions: the database finds them when the purge deletes the
        # device (ON DELETE SET NULL), one lookup per device.
        indexes = (("account_id", "revoked_at"), ("remembered_device_id",))


class SignInChallenge(Model):
    """The second step of a sign-in with 2FA: the password was right, a code is due."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="challenges", on_delete=fields.CASCADE
    )
    account_id: int
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    # Incremented before a code is checked, so the cap holds under parallel requests.
    attempts = fields.IntField(default=0)
    used_at = fields.DatetimeField(null=True)
    # When the account has security keys: SHA-256 of the WebAuthn challenge its options carry.
    webauthn_challenge_hash = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "sign_in_challenge"
        # An account's unused challenges, spent when its second factor changes.
        indexes = (("account_id", "used_at"),)


class LinkToken(Model):
    """A single-use token sent in an email link (verify a billing contact, reset a password,
    secure the account, cancel a scheduled recovery). Only its SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="link_tokens", on_delete=fields.CASCADE
    )
    account_id: int
    # A services.link_tokens.LinkPurpose value.
    purpose = fields.CharField(max_length=32)
    # What the link is about, when the account alone does not say it (the billing contact
    # address being verified, a recovery request's id).
    subject = fields.CharField(max_length=254, null=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "link_token"
        # An account's unused links of one purpose, replaced by a new one.
        indexes = (("account_id", "purpose", "used_at"),)


class RememberedDevice(Model):
    """A browser or app that skips the second factor at sign-in until `expires_at` (fixed:
    use does not extend it). Only the SHA-256 of its device token is stored; `binding` ties it
    to the account's password and 2FA enrolment as they were when it was remembered."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="remembered_devices", on_delete=fields.CASCADE
    )
    account_id: int
    binding = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    ip_address = fields.CharField(max_length=45, null=True)
    user_agent = fields.CharField(max_length=512, null=True)

    class Meta:
        table = "remembered_device"
        indexes = (("account_id",),)
