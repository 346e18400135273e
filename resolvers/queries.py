"""viewer, node, markNotificationsRead, and the parts of the contract not built yet."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import fields
from resolvers.context import Context
from resolvers.errors import signed_in
from resolvers.payload_errors import payload_errors
from schema.global_id import from_global_id
from schema.inputs import MarkNotificationsReadInput
from schema.payloads import MarkNotificationsReadPayload
from services import history
from services.errors import InvalidInput

Info = strawberry.Info[Context, None]


def viewer(info: Info) -> Any:
    return info.context.account


async def node(info: Info, id: strawberry.ID) -> Any:
    account = info.context.account
    decoded = from_global_id(id)
    if account is None or decoded is None:
        return None
    kind, pk = decoded
    if kind == "Account":
        return account if pk == account.id else await fields.requester_account(info, pk)
    if kind == "RecoveryRequest":
        return await fields.visible_recovery_request(info, pk)
    return await history.find_own(kind, pk, account.id)


@payload_errors(MarkNotificationsReadPayload)
async def mark_notifications_read(
    *, info: Info, input: MarkNotificationsReadInput
) -> MarkNotificationsReadPayload:
    account, _ = signed_in(info)
    ids: list[int] = []
    for position, global_id in enumerate(input.ids or []):
        decoded = from_global_id(global_id)
        if decoded is None or decoded[0] != "Notification":
            raise InvalidInput(field=f"ids.{position}")
        ids.append(decoded[1])
    left = await history.mark_notifications_read(info.context.runtime, account.id, ids)
    return MarkNotificationsReadPayload(unread_notification_count=left)
