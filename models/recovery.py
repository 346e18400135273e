from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.accounts import Account


class RecoveryStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    # Approved with a waiting period: 2FA turns off at effective_at unless the owner cancels.
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"


class DocumentKind(StrEnum):
    IDENTITY = "IDENTITY"
    COMPANY_REGISTRATION = "COMPANY_REGISTRATION"


class RecoveryRequest(Model):
    """A customer without a second factor asks support to turn 2FA off."""

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="recovery_requests", on_delete=fields.CASCADE
    )
    account_id: int
    status = fields.CharEnumField(RecoveryStatus, max_length=16, default=RecoveryStatus.PENDING)
    # The account id while PENDING or SCHEDULED, NULL once closed: its unique index allows
    # one open request per account, even when two arrive at once.
    open_for = fields.IntField(null=True, unique=True)
    message = fields.TextField(null=True)
    created_at = fields.DatetimeField(db_index=True)
    resolved_at = fields.DatetimeField(null=True)
    resolution_note = fields.TextField(null=True)
    reviewer: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="reviewed_requests", null=True, on_delete=fields.SET_NULL
    )
    reviewer_id: int | None
    documents_purged_at = fields.DatetimeField(null=True)
    # SCHEDULED: when 2FA turns off (the job's conditional UPDATE reads it).
    effective_at = fields.DatetimeField(null=True)

    class Meta:
        table = "recovery_request"
        indexes = (("account_id", "status"),)


class RecoveryDocument(Model):
    """An uploaded document, encrypted at rest under a random file name."""

    id = fields.IntField(primary_key=True)
    request: fields.ForeignKeyRelation[RecoveryRequest] = fields.ForeignKeyField(
        "models.RecoveryRequest", related_name="documents", on_delete=fields.CASCADE
    )
    request_id: int
    kind = fields.CharEnumField(DocumentKind, max_length=32)
    file_name = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=64)
    size = fields.IntField()
    storage_name = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "recovery_document"
        indexes = (("request_id",),)
