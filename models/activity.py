from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.accounts import Account


class SecurityEvent(Model):
    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="security_events", on_delete=fields.CASCADE
    )
    account_id: int
    # A SecurityEventKind name of the contract, e.g. SIGNED_IN.
    kind = fields.CharField(max_length=40)
    created_at = fields.DatetimeField(db_index=True)
    ip_address = fields.CharField(max_length=45, null=True)
    user_agent = fields.CharField(max_length=512, null=True)

    class Meta:
        table = "security_event"
        # Every sign-in reads the account's earlier sign-ins (services.sign_in_alerts): by
        # account, kind and time, not a walk through every account's last 90 days.
        indexes = (("account_id", "kind", "created_at"),)


class Notification(Model):
    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="notifications", on_delete=fields.CASCADE
    )
    account_id: int
    kind = fields.CharField(max_length=40)
    level = fields.CharField(max_length=16)
    # Rendered in the reader's locale at read time, from a message key and its parameters.
    message_key = fields.CharField(max_length=80)
    params: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(db_index=True)
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        # The feed and its unread count, per account.
        indexes = (("account_id", "read_at"),)


class FailedAttempt(Model):
    """One failed (or in-flight) password or second-factor attempt, for rate limiting.

    `subject` is what is throttled: "password:<case-folded email>" (so unknown emails are
    throttled exactly like known ones) or "second-factor:<account id>".
    """

    id = fields.IntField(primary_key=True)
    subject = fields.CharField(max_length=300, db_index=True)
    created_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "failed_attempt"
