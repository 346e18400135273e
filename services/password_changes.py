"""changePassword: the signed-in owner sets a new password, the current one asked again."""

from __future__ import annotations

from models import Account, Session
from services import changes, validation
from services.accounts import check_password
from services.notifications import NotificationKind
from services.password_reset import set_password
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind


async def change_password(
    rt: Runtime,
    account: Account,
    session: Session,
    meta: RequestMeta,
    *,
    current_password: str,
    new_password: str,
    sign_out_other_sessions: bool = True,
) -> None:
    validation.new_password(new_password, "new_password")
    # The same throttle as every other password re-entry (per account email).
    await check_password(rt, account, current_password, field="current_password")
    password_hash = await rt.passwords.hash(new_password)
    async with changes.account_change(rt, account, meta) as change:
        await set_password(change, password_hash)
        ended = await change.end_sessions(keep=session.id) if sign_out_other_sessions else 0
        await change.record_event(SecurityEventKind.PASSWORD_CHANGED)
        await change.notify(
            NotificationKind.PASSWORD_CHANGED, {"via": "CHANGE", "sessions_ended": ended}
        )
