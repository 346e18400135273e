"""Single-use tokens sent in email links.

A link carries 256 random bits; only their SHA-256 is stored (`LinkToken.token_hash`), so the
database alone cannot open one. A token is spent by one conditional UPDATE (`used_at IS NULL`
and not expired): of two requests racing with the same link, one wins. Every refusal (unknown,
used, expired, another purpose) is the same `LinkExpired`, so a link says nothing about why.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient

from models import LinkToken
from services.crypto import new_token, token_digest
from services.errors import LinkExpired
from services.runtime import Runtime


class LinkPurpose(StrEnum):
    VERIFY_BILLING_CONTACT = "verify_billing_contact"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a purpose's name, not a secret)
    SECURE_ACCOUNT = "secure_account"
    CANCEL_RECOVERY = "cancel_recovery"


async def issue(
    rt: Runtime,
    account_id: int,
    purpose: LinkPurpose,
    valid_for: timedelta,
    connection: BaseDBAsyncClient | None = None,
    *,
    subject: str | None = None,
) -> str:
    """A new token for a link; write it in the transaction of the change that emails it."""
    token = new_token()
    now = rt.clock.now()
    await LinkToken.create(
        using_db=connection,
        token_hash=token_digest(token),
        account_id=account_id,
        purpose=purpose.value,
        subject=subject,
        created_at=now,
        expires_at=now + valid_for,
    )
    return token


async def spend(
    rt: Runtime,
    token: str,
    purpose: LinkPurpose,
    connection: BaseDBAsyncClient | None = None,
    *,
    field: str = "token",
) -> LinkToken:
    """The token's row, marked used; LinkExpired when it is unknown, used, expired or for
    another purpose. Call it inside the transaction of what the link does, so a failure
    after it leaves the link unused."""
    digest = token_digest(token)
    now = rt.clock.now()
    spent = (
        await LinkToken.filter(
            token_hash=digest, purpose=purpose.value, used_at=None, expires_at__gt=now
        )
        .using_db(connection)
        .update(used_at=now)
    )
    if spent != 1:
        raise LinkExpired(field=field)
    return await LinkToken.filter(token_hash=digest).using_db(connection).get()


async def revoke(
    account_id: int, purpose: LinkPurpose, connection: BaseDBAsyncClient | None = None
) -> None:
    """Spend every unused token of this purpose (a newer email replaces the older links)."""
    await (
        LinkToken.filter(account_id=account_id, purpose=purpose.value, used_at=None)
        .using_db(connection)
        .delete()
    )
