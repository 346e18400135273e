"""secureAccount: the "this wasn't me" link of a security email.

Whoever holds the link (sent to the account's addresses) may lock the account down, without
signing in: every session ends, every remembered device is forgotten, a password reset link
is emailed to the account email. It never changes the password or 2FA itself, so a link
that leaked can annoy the owner but not take the account.
"""

from __future__ import annotations

from models import Account, LinkToken, SignInChallenge
from services import changes, link_tokens, recovery_schedule, remembered_devices
from services.crypto import token_digest
from services.errors import LinkExpired
from services.link_tokens import LinkPurpose
from services.notifications import NotificationKind
from services.password_reset import email_reset_link
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind


async def secure_account(rt: Runtime, meta: RequestMeta, *, token: str) -> None:
    link = await LinkToken.get_or_none(
        token_hash=token_digest(token),
        purpose=LinkPurpose.SECURE_ACCOUNT.value,
        used_at=None,
        expires_at__gt=rt.clock.now(),
    )
    if link is None:
        raise LinkExpired(field="token")
    account = await Account.get(id=link.account_id)
    async with changes.account_change(rt, account, meta) as change:
        await link_tokens.spend(rt, token, LinkPurpose.SECURE_ACCOUNT, change.connection)
        ended = await change.end_sessions()
        await remembered_devices.forget_all(account.id, change.connection)
        # A sign-in half done with the password waits for its second factor: close it too.
        await (
            SignInChallenge.filter(account_id=account.id, used_at=None)
            .using_db(change.connection)
            .update(used_at=rt.clock.now())
        )
        # Whoever knows the password may have asked support to turn 2FA off: a recovery
        # waiting for its effective time is cancelled with the rest.
        await recovery_schedule.cancel_scheduled(
            change, reason=recovery_schedule.BY_SECURED_ACCOUNT
        )
        await email_reset_link(change, {"reason": "ACCOUNT_SECURED"})
        await change.record_event(SecurityEventKind.ACCOUNT_SECURED)
        await change.notify(
            NotificationKind.SESSIONS_REVOKED, {"count": ended, "reason": "ACCOUNT_SECURED"}
        )
