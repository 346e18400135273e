"""Single-use backup codes, stored only as keyed digests bound to their account
(services.crypto.KeyRing.account_digests)."""

from __future__ import annotations

import secrets

from tortoise.backends.base.client import BaseDBAsyncClient

from models import Account, BackupCode
from services import changes, totp
from services.accounts import check_password
from services.errors import TwoFactorNotEnabled
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind


async def replace_batch(rt: Runtime, account: Account, connection: BaseDBAsyncClient) -> list[str]:
    """A fresh batch of codes for the account, replacing every earlier one.

    Runs inside the caller's transaction, which must already hold the account's row lock
    (services.two_factor.lock_account, or the conditional UPDATE that turned 2FA on), so two
    regenerations cannot interleave and leave two batches.
    """
    account_id = account.id
    now = rt.clock.now()
    codes = totp.new_backup_codes(rt.settings.backup_code_count)
    batch_id = secrets.token_hex(8)
    await BackupCode.filter(account_id=account_id).using_db(connection).delete()
    await BackupCode.bulk_create(
        [
            BackupCode(
                account_id=account_id,
                batch_id=batch_id,
                digest=rt.keys.account_digests(account_id, totp.normalize_code(code))[0],
                created_at=now,
            )
            for code in codes
        ],
        using_db=connection,
    )
    await Account.filter(id=account_id).using_db(connection).update(backup_codes_generated_at=now)
    account.backup_codes_generated_at = now
    return codes


async def spend(rt: Runtime, account_id: int, normalized_code: str) -> bool:
    """Use a code up. One conditional UPDATE: of two requests with one code, one wins.
    The digests are the account's own: another account's code matches no row of it."""
    used = await BackupCode.filter(
        account_id=account_id,
        digest__in=rt.keys.account_digests(account_id, normalized_code),
        used_at=None,
    ).update(used_at=rt.clock.now())
    return used == 1


async def regenerate(rt: Runtime, account: Account, password: str, meta: RequestMeta) -> list[str]:
    if not await Account.exists(id=account.id, two_factor_enabled_at__not_isnull=True):
        raise TwoFactorNotEnabled()
    await check_password(rt, account, password)
    async with changes.account_change(rt, account, meta) as change:
        locked = (
            await Account.filter(id=account.id, two_factor_enabled_at__not_isnull=True)
            .using_db(change.connection)
            .select_for_update()
            .first()
        )
        if locked is None:  # turned off between the check above and this transaction
            raise TwoFactorNotEnabled()
        codes = await replace_batch(rt, account, change.connection)
        await change.record_event(SecurityEventKind.BACKUP_CODES_REGENERATED)
        await change.notify(NotificationKind.BACKUP_CODES_REGENERATED)
    return codes
