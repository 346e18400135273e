"""Password reset by an emailed link, which never skips the second factor.

`request_reset` answers the same, in the same time, whether the email has an account or not:
the throttles count the email as typed and the client address (never the account), and an
unknown email does writes of the same kind and number as a known one (see `_same_work`), so
neither the answer, nor a refusal, nor its timing tells whether the account exists.
`reset_password` spends the single-use link (stored hashed, valid an hour), sets the password,
ends every session, forgets every remembered device and, when 2FA is on, opens a sign-in
challenge instead of a session.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from tortoise.transactions import in_transaction

from models import Account, FailedAttempt, LinkToken, SignInChallenge
from services import (
    changes,
    emails,
    link_tokens,
    remembered_devices,
    status,
    throttle,
    validation,
)
from services.accounts import IssuedChallenge, IssuedSession, open_challenge, open_session
from services.changes import Change
from services.crypto import token_digest
from services.errors import LinkExpired
from services.link_tokens import LinkPurpose
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind

RESET_LINK_VALID_FOR = timedelta(hours=1)
# Requests in a throttle window (FAILURE_WINDOW_SECONDS): few per email, which is someone's
# mailbox; more per client address, which an office or a carrier's NAT shares.
REQUESTS_PER_EMAIL = 5
REQUESTS_PER_ADDRESS = 20
LINK_EMAIL = "LINK_PASSWORD_RESET"
# The web client's route that takes the token (webclient/static/app/views/passwords.js).
RESET_ROUTE = "/#/reset-password?token="


def email_subject(email: str) -> str:
    return f"reset:{email}"


def address_subject(ip_address: str | None) -> str:
    return f"reset-ip:{ip_address or 'unknown'}"


async def request_reset(rt: Runtime, meta: RequestMeta, *, email: str) -> None:
    email = validation.looked_up_email(email)
    # Every request counts (none "succeeds"): per client address, then per email as typed.
    await throttle.begin_attempt(rt, address_subject(meta.ip_address), limit=REQUESTS_PER_ADDRESS)
    await throttle.begin_attempt(rt, email_subject(email), limit=REQUESTS_PER_EMAIL)
    account = await Account.get_or_none(email=email) if len(email) <= validation.EMAIL_MAX else None
    if account is None:
        await _same_work(rt, meta)
        return
    async with changes.account_change(rt, account, meta) as change:
        await email_reset_link(change)
        await change.record_event(SecurityEventKind.PASSWORD_RESET_REQUESTED)
        # In the feed and live; its email is the reset link's, already queued.
        await change.notify(NotificationKind.PASSWORD_RESET_REQUESTED, email=False)


async def email_reset_link(change: Change, params: dict[str, object] | None = None) -> None:
    """Issue a reset link (older ones stop working) and queue its email to the account email,
    in the change's transaction."""
    rt, account = change.rt, change.account
    await link_tokens.revoke(account.id, LinkPurpose.RESET_PASSWORD, change.connection)
    token = await link_tokens.issue(
        rt, account.id, LinkPurpose.RESET_PASSWORD, RESET_LINK_VALID_FOR, change.connection
    )
    link = rt.settings.base_url + RESET_ROUTE + token
    await emails.enqueue_link(
        rt, account, LINK_EMAIL, change.meta, {**(params or {}), "link": link}, change.connection
    )


async def _same_work(rt: Runtime, meta: RequestMeta) -> None:
    """What a known email costs, for an unknown one: the email rendered, and in one committed
    transaction a delete and four inserts (the link, the event, the notification, the outbox
    row) and the email limits' two counts, here rows of a throwaway subject deleted before the
    commit, and after it the
    account status read that publishing the notification costs. Nothing is sent or kept."""
    facts = emails.facts_of(rt, "nobody@example.invalid", None, meta, "en")
    emails.render(LINK_EMAIL, "en", facts, {"link": RESET_ROUTE}, emails.LINK)
    subject = "reset-none:" + secrets.token_hex(8)
    now = rt.clock.now()
    async with in_transaction() as connection:
        await LinkToken.filter(account_id=0, used_at=None).using_db(connection).delete()
        for _ in range(4):
            await FailedAttempt.create(using_db=connection, subject=subject, created_at=now)
        # The email limits' two counts (per kind and address, per account: emails.within_limits).
        for _ in range(2):
            await throttle.take_quota(
                rt, subject, 100, rt.settings.mail_limit_window_seconds, connection
            )
        await FailedAttempt.filter(subject=subject).using_db(connection).delete()
    await status.get_status(rt, 0)


async def reset_password(
    rt: Runtime, meta: RequestMeta, *, token: str, new_password: str
) -> IssuedSession | IssuedChallenge:
    validation.new_password(new_password, "new_password")
    link = await LinkToken.get_or_none(
        token_hash=token_digest(token),
        purpose=LinkPurpose.RESET_PASSWORD.value,
        used_at=None,
        expires_at__gt=rt.clock.now(),
    )
    if link is None:
        raise LinkExpired(field="token")
    account = await Account.get(id=link.account_id)
    password_hash = await rt.passwords.hash(new_password)
    async with changes.account_change(rt, account, meta) as change:
        # The conditional spend decides between two requests with the same link.
        await link_tokens.spend(rt, token, LinkPurpose.RESET_PASSWORD, change.connection)
        await set_password(change, password_hash)
        await change.end_sessions()
        await change.record_event(SecurityEventKind.PASSWORD_RESET)
        await change.notify(NotificationKind.PASSWORD_CHANGED, {"via": "RESET"})
        two_factor_on = await Account.exists(
            id=account.id, two_factor_enabled_at__isnull=False, using_db=change.connection
        )
        if not two_factor_on:
            issued = await open_session(rt, account, meta, change.connection)
            await change.record_event(SecurityEventKind.SIGNED_IN)
            return issued
    # The link proved the mailbox, not the second factor: that is still due.
    return await open_challenge(rt, account)


async def set_password(change: Change, password_hash: str) -> None:
    """The new hash, and what the old password opened closed: remembered devices (bound to
    the password), open sign-in challenges, unused reset links."""
    account, connection = change.account, change.connection
    await Account.filter(id=account.id).using_db(connection).update(password_hash=password_hash)
    account.password_hash = password_hash
    await remembered_devices.forget_all(account.id, connection)
    await (
        SignInChallenge.filter(account_id=account.id, used_at=None)
        .using_db(connection)
        .update(used_at=change.rt.clock.now())
    )
    await link_tokens.revoke(account.id, LinkPurpose.RESET_PASSWORD, connection)
