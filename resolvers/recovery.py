"""Lost-device recovery over GraphQL: the customer's request and support's queue."""

from __future__ import annotations

import strawberry

from resolvers.context import Context
from resolvers.errors import signed_in
from resolvers.payload_errors import payload_errors
from schema.enums import RecoveryDecision
from schema.global_id import from_global_id
from schema.inputs import RequestTwoFactorRecoveryInput, ResolveRecoveryRequestInput
from schema.payloads import RequestTwoFactorRecoveryPayload, ResolveRecoveryRequestPayload
from services import recovery, validation
from services.errors import NotFound

Info = strawberry.Info[Context, None]


def free_text(value: str | None, name: str) -> str | None:
    """A message for support or the customer: trimmed, capped, no control characters but
    line breaks and tabs."""
    return validation.optional_text(value, name, validation.MESSAGE_MAX, multiline=True)


@payload_errors(RequestTwoFactorRecoveryPayload)
async def request_recovery(
    *, info: Info, input: RequestTwoFactorRecoveryInput
) -> RequestTwoFactorRecoveryPayload:
    created = await recovery.request(
        info.context.runtime,
        info.context.meta,
        challenge_token=input.challenge_token,
        message=free_text(input.message, "message"),
        identity_document=input.identity_document,
        company_registration=input.company_registration,
    )
    return RequestTwoFactorRecoveryPayload(request=created)  # type: ignore[arg-type]


@payload_errors(ResolveRecoveryRequestPayload)
async def resolve_request(
    *, info: Info, input: ResolveRecoveryRequestInput
) -> ResolveRecoveryRequestPayload:
    reviewer, _ = signed_in(info)
    decoded = from_global_id(input.id)
    if decoded is None or decoded[0] != "RecoveryRequest":
        raise NotFound(field="id")
    resolved = await recovery.resolve(
        info.context.runtime,
        reviewer,
        decoded[1],
        input.decision == RecoveryDecision.APPROVE,
        free_text(input.note, "note"),
        info.context.meta,
    )
    return ResolveRecoveryRequestPayload(request=resolved)  # type: ignore[arg-type]
