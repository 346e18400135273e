"""Lost-device recovery: the customer's request and support's decision."""

from __future__ import annotations

from resolvers.context import Info
from resolvers.errors import signed_in
from services import recovery, recovery_schedule
from services.documents import UploadedFile
from services.errors import NotFound
from services.records import RecoveryRequest


async def request_recovery(
    info: Info,
    *,
    challenge_token: str,
    message: str | None,
    identity_document: UploadedFile,
    company_registration: UploadedFile | None,
) -> RecoveryRequest:
    return await recovery.request(
        info.context.runtime,
        info.context.meta,
        challenge_token=challenge_token,
        message=message,
        identity_document=identity_document,
        company_registration=company_registration,
    )


async def resolve_request(
    info: Info, request_id: int | None, *, approve: bool, note: str | None, confirm: bool
) -> RecoveryRequest:
    """`request_id` is None when the global id given is not a recovery request's."""
    reviewer, _ = signed_in(info)
    if request_id is None:
        raise NotFound(field="id")
    return await recovery.resolve(
        info.context.runtime,
        reviewer,
        request_id,
        approve,
        note,
        info.context.meta,
        confirm=confirm,
    )


async def cancel_recovery(info: Info, *, token: str | None) -> RecoveryRequest:
    """By the link's token, or as the signed-in owner."""
    context = info.context
    return await recovery_schedule.cancel(context.runtime, context.meta, context.account, token)
