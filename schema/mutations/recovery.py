"""requestTwoFactorRecovery, resolveRecoveryRequest, cancelTwoFactorRecovery."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import recovery
from resolvers.context import Info
from schema.enums import RecoveryDecision
from schema.global_id import from_global_id
from schema.inputs import (
    CancelTwoFactorRecoveryInput,
    RequestTwoFactorRecoveryInput,
    ResolveRecoveryRequestInput,
)
from schema.payload_errors import payload_errors
from schema.payloads import (
    CancelTwoFactorRecoveryPayload,
    RequestTwoFactorRecoveryPayload,
    ResolveRecoveryRequestPayload,
)


@payload_errors(RequestTwoFactorRecoveryPayload)
async def request_recovery(
    info: Info,
    input: Annotated[
        RequestTwoFactorRecoveryInput,
        strawberry.argument(
            description="The challenge token, a message and the documents (uploads)."
        ),
    ],
) -> RequestTwoFactorRecoveryPayload:
    created = await recovery.request_recovery(
        info,
        challenge_token=input.challenge_token,
        message=input.message,
        identity_document=input.identity_document,
        company_registration=input.company_registration,
    )
    return RequestTwoFactorRecoveryPayload(request=created)


@payload_errors(ResolveRecoveryRequestPayload)
async def resolve_request(
    info: Info,
    input: Annotated[
        ResolveRecoveryRequestInput,
        strawberry.argument(description="The request, the decision and a note to the customer."),
    ],
) -> ResolveRecoveryRequestPayload:
    decoded = from_global_id(input.id)
    resolved = await recovery.resolve_request(
        info,
        decoded[1] if decoded is not None and decoded[0] == "RecoveryRequest" else None,
        approve=input.decision == RecoveryDecision.APPROVE,
        note=input.note,
        confirm=bool(input.confirm),
    )
    return ResolveRecoveryRequestPayload(request=resolved)


@payload_errors(CancelTwoFactorRecoveryPayload)
async def cancel_recovery(
    info: Info,
    input: Annotated[
        CancelTwoFactorRecoveryInput,
        strawberry.argument(description="The cancel link's token, or nothing when signed in."),
    ],
) -> CancelTwoFactorRecoveryPayload:
    cancelled = await recovery.cancel_recovery(info, token=input.token)
    return CancelTwoFactorRecoveryPayload(request=cancelled)
