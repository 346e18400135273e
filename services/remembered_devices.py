"""Remembered devices: browsers that skip the second factor at sign-in for a fixed window.

Only the forgetting lives here so far; every event that must forget them all (password
changed or reset, 2FA turned off or re-enrolled, sign out everywhere, "this wasn't me") calls
`forget_all` in its transaction.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from models import RememberedDevice


async def forget_all(account_id: int, connection: BaseDBAsyncClient | None = None) -> int:
    """Delete every remembered device of the account; how many there were."""
    return await RememberedDevice.filter(account_id=account_id).using_db(connection).delete()
