from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OutboxEmail(Model):
    """An email to send, written in the transaction of the change it reports.

    The whole MIME message is kept, so every retry sends the same bytes (same Message-ID).
    """

    id = fields.IntField(primary_key=True)
    recipient = fields.CharField(max_length=254)
    subject = fields.CharField(max_length=255)
    message_id = fields.CharField(max_length=255, unique=True)
    message = fields.TextField()
    created_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    # Set by the worker that claimed the row; another worker skips it until this passes.
    locked_until = fields.DatetimeField(null=True)
    # Indexed for the purge (services.purge).
    sent_at = fields.DatetimeField(null=True, db_index=True)
    failed_at = fields.DatetimeField(null=True, db_index=True)
    last_error = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "outbox_email"
