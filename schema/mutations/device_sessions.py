"""revokeSession and signOutEverywhere."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import device_sessions
from resolvers.context import Info
from schema.global_id import from_global_id
from schema.inputs import RevokeSessionInput, SignOutEverywhereInput
from schema.payload_errors import payload_errors
from schema.payloads import RevokeSessionPayload, SignOutEverywherePayload


@payload_errors(RevokeSessionPayload)
async def revoke_session(
    info: Info,
    input: Annotated[RevokeSessionInput, strawberry.argument(description="The session to end.")],
) -> RevokeSessionPayload:
    decoded = from_global_id(input.id)
    pk = decoded[1] if decoded is not None and decoded[0] == "DeviceSession" else None
    account = await device_sessions.revoke_session(info, pk)
    return RevokeSessionPayload(account=account)


@payload_errors(SignOutEverywherePayload)
async def sign_out_everywhere(
    info: Info,
    input: Annotated[
        SignOutEverywhereInput,
        strawberry.argument(description="Whether the session making this request stays."),
    ],
) -> SignOutEverywherePayload:
    keep_current = input.keep_current is not False
    account = await device_sessions.sign_out_everywhere(info, keep_current=keep_current)
    return SignOutEverywherePayload(account=account)
