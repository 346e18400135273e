"""The root Query, Mutation and Subscription types."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from resolvers import fields, queries, subscriptions
from resolvers import two_factor as two_factor_resolvers
from resolvers.context import Info
from resolvers.queries import NodeRecord
from schema.connections import Connection
from schema.enums import RecoveryStatus
from schema.global_id import from_global_id
from schema.mutations import account, notifications, recovery, sessions, two_factor
from schema.payloads import (
    CancelTwoFactorSetupPayload,
    ConfirmTwoFactorPayload,
    DisableTwoFactorPayload,
    MarkNotificationsReadPayload,
    RegenerateBackupCodesPayload,
    RequestTwoFactorRecoveryPayload,
    ResolveRecoveryRequestPayload,
    SignInPayload,
    SignOutPayload,
    SignUpPayload,
    StartTwoFactorPayload,
    UpdateAccountPayload,
    VerifyBillingContactPayload,
    VerifySignInPayload,
)
from schema.types import (
    Account,
    Node,
    Notification,
    RecoveryRequest,
    TwoFactorStatus,
)
from services import records
from services.pagination import Page
from services.status import TwoFactorStatus as StatusRecord


async def _node(
    info: Info,
    id: Annotated[
        strawberry.ID,
        strawberry.argument(
            description="The `id` of an Account, Notification, SecurityEvent or RecoveryRequest."
        ),
    ],
) -> NodeRecord | None:
    decoded = from_global_id(id)
    return await queries.node(info, *decoded) if decoded is not None else None


async def _recovery_requests(
    info: Info,
    status: Annotated[
        RecoveryStatus | None,
        strawberry.argument(description="Only requests in this status; null: every status."),
    ] = None,
    first: Annotated[
        int | None, strawberry.argument(description="How many requests at most (1 to 100).")
    ] = 20,
    after: Annotated[
        str | None,
        strawberry.argument(
            description="The endCursor of the previous page; null: from the start."
        ),
    ] = None,
) -> Page[records.RecoveryRequest]:
    stored = records.RecoveryStatus[status.name] if status is not None else None
    return await fields.recovery_queue(info, stored, first, after)


@strawberry.type(description="Read operations.")
class Query:
    viewer: records.Account | None = strawberry.field(
        resolver=queries.viewer,
        graphql_type=Account | None,
        description="The signed-in account, or null.",
    )
    two_factor_status: StatusRecord = strawberry.field(
        resolver=two_factor_resolvers.status,
        graphql_type=TwoFactorStatus,
        description="2FA status of the signed-in account; a top-level UNAUTHENTICATED error when signed out.",
    )
    node: NodeRecord | None = strawberry.field(
        resolver=_node,
        graphql_type=Node | None,
        description="Any entity the caller may see, by global id; null otherwise.",
    )
    recovery_requests: Page[records.RecoveryRequest] = strawberry.field(
        resolver=_recovery_requests,
        graphql_type=Connection[RecoveryRequest],
        description="SUPPORT only. Oldest pending first.",
    )


@strawberry.type(
    description="Write operations. Expected failures come back in each payload's `errors`."
)
class Mutation:
    sign_up: SignUpPayload = strawberry.mutation(
        resolver=sessions.sign_up, description="Create an account and open its first session."
    )
    sign_in: SignInPayload = strawberry.mutation(
        resolver=sessions.sign_in,
        description="Email and password: a session, or a challenge when the account has 2FA.",
    )
    verify_sign_in: VerifySignInPayload = strawberry.mutation(
        resolver=sessions.verify_sign_in,
        description="Second step of a sign-in: a TOTP code or a backup code against the challenge.",
    )
    sign_out: SignOutPayload = strawberry.mutation(
        resolver=sessions.sign_out, description="End the current session."
    )
    start_two_factor: StartTwoFactorPayload = strawberry.mutation(
        resolver=two_factor.start,
        description="Password again, then a new secret and QR code; replaces a pending setup.",
    )
    cancel_two_factor_setup: CancelTwoFactorSetupPayload = strawberry.mutation(
        resolver=two_factor.cancel, description="Drop a pending setup."
    )
    confirm_two_factor: ConfirmTwoFactorPayload = strawberry.mutation(
        resolver=two_factor.confirm,
        description="First code from the app: 2FA is on; returns the backup codes, this once.",
    )
    regenerate_backup_codes: RegenerateBackupCodesPayload = strawberry.mutation(
        resolver=two_factor.regenerate_backup_codes,
        description="Ten new backup codes; every earlier code stops working.",
    )
    disable_two_factor: DisableTwoFactorPayload = strawberry.mutation(
        resolver=two_factor.disable,
        description="Password and confirm: true; deletes the secret and the backup codes.",
    )
    mark_notifications_read: MarkNotificationsReadPayload = strawberry.mutation(
        resolver=notifications.mark_notifications_read, description="Mark notifications read."
    )
    request_two_factor_recovery: RequestTwoFactorRecoveryPayload = strawberry.mutation(
        resolver=recovery.request_recovery,
        description=(
            "Lost device: ask support to turn 2FA off. Send it as a GraphQL multipart request "
            "with the identity document (and the KBIS for a company); PDF, JPEG or PNG, "
            "10 MB at most each. The challenge token of signIn proves the password."
        ),
    )
    resolve_recovery_request: ResolveRecoveryRequestPayload = strawberry.mutation(
        resolver=recovery.resolve_request,
        description=(
            "SUPPORT only. APPROVE turns the account's 2FA off (secret and codes deleted, "
            "every session ended); either way the customer is emailed the decision and note."
        ),
    )
    update_account: UpdateAccountPayload = strawberry.mutation(
        resolver=account.update_account,
        description=(
            "Change the company name, the billing contact or the language (validated as at "
            "signUp). A new billing contact gets a verification email; a new language applies "
            "at once, to this answer's messages and to notifications and emails."
        ),
    )
    verify_billing_contact: VerifyBillingContactPayload = strawberry.mutation(
        resolver=account.verify_billing_contact,
        description=(
            "Open the billing contact's verification link; works signed out (the contact may "
            "be another person). LINK_EXPIRED for an unknown, used or expired link, or when "
            "the billing contact changed since it was sent."
        ),
    )


@strawberry.type(description="Live updates over WebSocket.")
class Subscription:
    notifications: AsyncGenerator[records.Notification, None] = strawberry.subscription(
        resolver=subscriptions.notifications,
        graphql_type=Notification,
        description="Live notifications of the signed-in account, pushed to every open session of it.",
    )
