"""updateAccount and verifyBillingContact."""

from __future__ import annotations

from resolvers.context import Info
from resolvers.errors import signed_in
from services import account_settings
from services.account_settings import AccountUpdate
from services.records import Account


async def update_account(info: Info, update: AccountUpdate) -> Account:
    account, _ = signed_in(info)
    updated = await account_settings.update(
        info.context.runtime, account, update, info.context.meta
    )
    # The rest of this answer (notification messages it reads) speaks the new language.
    info.context.locale = updated.locale.value
    return updated


async def verify_billing_contact(info: Info, token: str) -> None:
    await account_settings.verify_billing_contact(info.context.runtime, token, info.context.meta)
