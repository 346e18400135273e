"""markNotificationsRead."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import queries
from resolvers.context import Info
from schema.global_id import from_global_id
from schema.inputs import MarkNotificationsReadInput
from schema.payload_errors import payload_errors
from schema.payloads import MarkNotificationsReadPayload


@payload_errors(MarkNotificationsReadPayload)
async def mark_notifications_read(
    info: Info,
    input: Annotated[
        MarkNotificationsReadInput,
        strawberry.argument(description="Which notifications; none listed: all of them."),
    ],
) -> MarkNotificationsReadPayload:
    # None for an id that is not a notification's: the resolver names its position.
    ids = [_notification_pk(global_id) for global_id in input.ids or []]
    left = await queries.mark_notifications_read(info, ids)
    return MarkNotificationsReadPayload(unread_notification_count=left)


def _notification_pk(global_id: strawberry.ID) -> int | None:
    decoded = from_global_id(global_id)
    return decoded[1] if decoded is not None and decoded[0] == "Notification" else None
