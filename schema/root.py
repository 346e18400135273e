"""The root Query, Mutation and Subscription types."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from resolvers import fields, queries, recovery, sessions, subscriptions, two_factor
from schema.enums import RecoveryStatus
from schema.inputs import (
    ConfirmTwoFactorInput,
    DisableTwoFactorInput,
    MarkNotificationsReadInput,
    RegenerateBackupCodesInput,
    RequestTwoFactorRecoveryInput,
    ResolveRecoveryRequestInput,
    SignInInput,
    SignUpInput,
    StartTwoFactorInput,
    VerifySignInInput,
)
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
    VerifySignInPayload,
)
from schema.types import (
    Account,
    Info,
    Node,
    Notification,
    RecoveryRequestConnection,
    TwoFactorStatus,
)


@strawberry.type(description="Read operations.")
class Query:
    viewer: Account | None = strawberry.field(
        resolver=queries.viewer, description="The signed-in account, or null."
    )
    two_factor_status: TwoFactorStatus = strawberry.field(
        resolver=two_factor.status,
        description="2FA status of the signed-in account; a top-level UNAUTHENTICATED error when signed out.",
    )

    @strawberry.field(description="Any entity the caller may see, by global id; null otherwise.")
    async def node(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The `id` of an Account, Notification, SecurityEvent or RecoveryRequest."
            ),
        ],
    ) -> Node | None:
        found: Any = await queries.node(info, id)
        return found

    @strawberry.field(description="SUPPORT only. Oldest pending first.")
    async def recovery_requests(
        self,
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
    ) -> RecoveryRequestConnection:
        return await fields.recovery_queue(  # type: ignore[return-value]
            info, status.value if status else None, first, after
        )


# Each mutation names its resolver through a method, not `resolver=`, so its `input`
# argument carries a description (Annotated on the method's own signature).
@strawberry.type(
    description="Write operations. Expected failures come back in each payload's `errors`."
)
class Mutation:
    @strawberry.mutation(description="Create an account and open its first session.")
    async def sign_up(
        self,
        info: Info,
        input: Annotated[
            SignUpInput,
            strawberry.argument(description="Email, password and profile of the new account."),
        ],
    ) -> SignUpPayload:
        return await sessions.sign_up(info=info, input=input)

    @strawberry.mutation(
        description="Email and password: a session, or a challenge when the account has 2FA."
    )
    async def sign_in(
        self,
        info: Info,
        input: Annotated[
            SignInInput, strawberry.argument(description="The account's email and password.")
        ],
    ) -> SignInPayload:
        return await sessions.sign_in(info=info, input=input)

    @strawberry.mutation(
        description="Second step of a sign-in: a TOTP code or a backup code against the challenge."
    )
    async def verify_sign_in(
        self,
        info: Info,
        input: Annotated[
            VerifySignInInput,
            strawberry.argument(description="The challenge token of signIn and the code typed."),
        ],
    ) -> VerifySignInPayload:
        return await sessions.verify_sign_in(info=info, input=input)

    @strawberry.mutation(description="End the current session.")
    async def sign_out(self, info: Info) -> SignOutPayload:
        return await sessions.sign_out(info=info)

    @strawberry.mutation(
        description="Password again, then a new secret and QR code; replaces a pending setup."
    )
    async def start_two_factor(
        self,
        info: Info,
        input: Annotated[
            StartTwoFactorInput,
            strawberry.argument(description="The account's password, asked again."),
        ],
    ) -> StartTwoFactorPayload:
        return await two_factor.start(info=info, input=input)

    @strawberry.mutation(description="Drop a pending setup.")
    async def cancel_two_factor_setup(self, info: Info) -> CancelTwoFactorSetupPayload:
        return await two_factor.cancel(info=info)

    @strawberry.mutation(
        description="First code from the app: 2FA is on; returns the backup codes, this once."
    )
    async def confirm_two_factor(
        self,
        info: Info,
        input: Annotated[
            ConfirmTwoFactorInput,
            strawberry.argument(description="The first code the authenticator app shows."),
        ],
    ) -> ConfirmTwoFactorPayload:
        return await two_factor.confirm(info=info, input=input)

    @strawberry.mutation(description="Ten new backup codes; every earlier code stops working.")
    async def regenerate_backup_codes(
        self,
        info: Info,
        input: Annotated[
            RegenerateBackupCodesInput,
            strawberry.argument(description="The account's password, asked again."),
        ],
    ) -> RegenerateBackupCodesPayload:
        return await two_factor.regenerate_backup_codes(info=info, input=input)

    @strawberry.mutation(
        description="Password and confirm: true; deletes the secret and the backup codes."
    )
    async def disable_two_factor(
        self,
        info: Info,
        input: Annotated[
            DisableTwoFactorInput,
            strawberry.argument(description="The account's password and the second confirmation."),
        ],
    ) -> DisableTwoFactorPayload:
        return await two_factor.disable(info=info, input=input)

    @strawberry.mutation(description="Mark notifications read.")
    async def mark_notifications_read(
        self,
        info: Info,
        input: Annotated[
            MarkNotificationsReadInput,
            strawberry.argument(description="Which notifications; none listed: all of them."),
        ],
    ) -> MarkNotificationsReadPayload:
        return await queries.mark_notifications_read(info=info, input=input)

    @strawberry.mutation(
        description=(
            "Lost device: ask support to turn 2FA off. Send it as a GraphQL multipart request "
            "with the identity document (and the KBIS for a company); PDF, JPEG or PNG, "
            "10 MB at most each. The challenge token of signIn proves the password."
        )
    )
    async def request_two_factor_recovery(
        self,
        info: Info,
        input: Annotated[
            RequestTwoFactorRecoveryInput,
            strawberry.argument(
                description="The challenge token, a message and the documents (uploads)."
            ),
        ],
    ) -> RequestTwoFactorRecoveryPayload:
        return await recovery.request_recovery(info=info, input=input)

    @strawberry.mutation(
        description=(
            "SUPPORT only. APPROVE turns the account's 2FA off (secret and codes deleted, "
            "every session ended); either way the customer is emailed the decision and note."
        )
    )
    async def resolve_recovery_request(
        self,
        info: Info,
        input: Annotated[
            ResolveRecoveryRequestInput,
            strawberry.argument(
                description="The request, the decision and a note to the customer."
            ),
        ],
    ) -> ResolveRecoveryRequestPayload:
        return await recovery.resolve_request(info=info, input=input)


@strawberry.type(description="Live updates over WebSocket.")
class Subscription:
    @strawberry.subscription(
        description="Live notifications of the signed-in account, pushed to every open session of it."
    )
    async def notifications(self, info: Info) -> AsyncGenerator[Notification, None]:
        async for notification in subscriptions.notifications(info):
            yield notification
