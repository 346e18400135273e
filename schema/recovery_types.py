"""Object types of lost-device recovery: the request support reviews and its documents."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import fields
from resolvers.context import Info
from schema.enums import DocumentKind, RecoveryStatus
from schema.global_id import to_global_id
from schema.types import Account, Node
from services import records


def _download_url(document: strawberry.Parent[records.RecoveryDocument], info: Info) -> str:
    return fields.download_url(info, document)


@strawberry.type(description="A document sent with a lost-device recovery request.")
class RecoveryDocument:
    kind: DocumentKind = strawberry.field(description="Identity or company registration.")
    file_name: str = strawberry.field(description="Name of the uploaded file.")
    content_type: str = strawberry.field(description="Detected from the content.")
    size: int = strawberry.field(description="In bytes.")
    download_url: str = strawberry.field(
        resolver=_download_url,
        description="Short-lived link, served only to a SUPPORT session (valid 10 minutes at most).",
    )


async def _requester(
    request: strawberry.Parent[records.RecoveryRequest], info: Info
) -> records.Account | None:
    return await fields.recovery_account(info, request)


async def _documents(
    request: strawberry.Parent[records.RecoveryRequest], info: Info
) -> list[records.RecoveryDocument]:
    return await fields.recovery_documents(info, request)


async def _resolved_by(
    request: strawberry.Parent[records.RecoveryRequest], info: Info
) -> str | None:
    return await fields.recovery_resolved_by(info, request)


def _recovery_request_id(request: strawberry.Parent[records.RecoveryRequest]) -> strawberry.ID:
    return strawberry.ID(to_global_id("RecoveryRequest", request.id))


@strawberry.type(description="A customer's request to turn 2FA off after losing the device.")
class RecoveryRequest(Node):
    status: RecoveryStatus = strawberry.field(description="Where it stands.")
    message: str | None = strawberry.field(description="The customer's message.")
    created_at: datetime = strawberry.field(description="When it was sent.")
    resolved_at: datetime | None = strawberry.field(description="When support answered.")
    resolution_note: str | None = strawberry.field(
        description="Support's note, sent to the customer."
    )
    account: records.Account | None = strawberry.field(
        resolver=_requester, graphql_type=Account | None, description="Visible to SUPPORT only."
    )
    documents: list[records.RecoveryDocument] = strawberry.field(
        resolver=_documents,
        graphql_type=list[RecoveryDocument],
        description="Visible to SUPPORT only; empty once the documents are purged.",
    )
    effective_at: datetime | None = strawberry.field(
        description="For a SCHEDULED request: when 2FA turns off (RECOVERY_WAIT_SECONDS after "
        "support's approval); kept once it took effect or was cancelled."
    )
    resolved_by: str | None = strawberry.field(
        resolver=_resolved_by,
        description="SUPPORT only: who decided (the deciding support account's email).",
    )
    id: strawberry.ID = strawberry.field(
        resolver=_recovery_request_id, description="Opaque global id."
    )
