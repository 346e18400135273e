"""revokeSession and signOutEverywhere: the signed-in account ends its own sessions."""

from __future__ import annotations

from resolvers.context import Info
from resolvers.errors import signed_in
from services import device_sessions
from services.errors import NotFound
from services.records import Account


async def revoke_session(info: Info, session_id: int | None) -> Account:
    """`session_id` is None for an id that is not a DeviceSession's."""
    account, _ = signed_in(info)
    if session_id is None:
        raise NotFound(field="id")
    await device_sessions.revoke(info.context.runtime, account, info.context.meta, session_id)
    return account


async def sign_out_everywhere(info: Info, *, keep_current: bool) -> Account:
    account, session = signed_in(info)
    await device_sessions.sign_out_everywhere(
        info.context.runtime,
        account,
        info.context.meta,
        keep=session.id if keep_current else None,
    )
    return account
