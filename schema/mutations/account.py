"""updateAccount, verifyBillingContact."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import account
from resolvers.context import Info
from schema.inputs import UpdateAccountInput, VerifyBillingContactInput
from schema.payload_errors import payload_errors
from schema.payloads import UpdateAccountPayload, VerifyBillingContactPayload
from services import records
from services.account_settings import AccountUpdate


@payload_errors(UpdateAccountPayload)
async def update_account(
    info: Info,
    input: Annotated[
        UpdateAccountInput,
        strawberry.argument(description="The settings to change; absent ones stay."),
    ],
) -> UpdateAccountPayload:
    update = AccountUpdate(
        company_name=input.company_name,
        billing_contact_email=input.billing_contact_email,
        locale=records.Locale[input.locale.name] if input.locale else None,
    )
    return UpdateAccountPayload(account=await account.update_account(info, update))


@payload_errors(VerifyBillingContactPayload)
async def verify_billing_contact(
    info: Info,
    input: Annotated[
        VerifyBillingContactInput,
        strawberry.argument(description="The token of the verification link."),
    ],
) -> VerifyBillingContactPayload:
    await account.verify_billing_contact(info, input.token)
    return VerifyBillingContactPayload()
