"""viewer, node and markNotificationsRead."""

from __future__ import annotations

from resolvers import fields
from resolvers.context import Info
from resolvers.errors import signed_in
from services import authenticators, device_sessions, history
from services.errors import InvalidInput
from services.records import (
    Account,
    Authenticator,
    DeviceSession,
    Notification,
    RecoveryRequest,
    SecurityEvent,
)


def viewer(info: Info) -> Account | None:
    return info.context.account


# What `node` finds: the records of the types that implement Node.
NodeRecord = (
    Account | Notification | SecurityEvent | RecoveryRequest | DeviceSession | Authenticator
)
# Authenticators come from two tables; the kind in their global id says which.
KINDS_OF_GLOBAL = {
    "AuthenticatorApp": authenticators.TOTP,
    "SecurityKey": authenticators.SECURITY_KEY,
}


async def node(info: Info, kind: str, pk: int) -> NodeRecord | None:
    """The entity of a decoded global id, when the signed-in account may see it."""
    account = info.context.account
    if account is None:
        return None
    if kind == "Account":
        return account if pk == account.id else await fields.requester_account(info, pk)
    if kind == "RecoveryRequest":
        return await fields.visible_recovery_request(info, pk)
    if kind in KINDS_OF_GLOBAL:
        return await authenticators.find_own(account, KINDS_OF_GLOBAL[kind], pk)
    if kind == "DeviceSession":
        current = info.context.session.id if info.context.session is not None else None
        return await device_sessions.find_own(info.context.runtime, account, pk, current)
    return await history.find_own(kind, pk, account.id)


async def mark_notifications_read(info: Info, notification_ids: list[int | None]) -> int:
    """The unread count left; an empty list marks them all. None stands for an id that is
    not a notification's."""
    account, _ = signed_in(info)
    ids: list[int] = []
    for position, pk in enumerate(notification_ids):
        if pk is None:
            raise InvalidInput(field=f"ids.{position}")
        ids.append(pk)
    return await history.mark_notifications_read(info.context.runtime, account.id, ids)
