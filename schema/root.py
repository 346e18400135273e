"""The root Query, Mutation and Subscription types."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError

from resolvers import fields, queries, subscriptions
from resolvers import two_factor as two_factor_resolvers
from resolvers.context import Info
from resolvers.queries import NodeRecord
from schema.connections import Connection
from schema.enums import RecoveryStatus
from schema.global_id import from_global_id
from schema.mutations import (
    account,
    device_sessions,
    notifications,
    passwords,
    recovery,
    security_keys,
    sessions,
    two_factor,
)
from schema.payloads import (
    CancelTwoFactorRecoveryPayload,
    CancelTwoFactorSetupPayload,
    ChangePasswordPayload,
    ConfirmTwoFactorPayload,
    DisableTwoFactorPayload,
    MarkNotificationsReadPayload,
    RegenerateBackupCodesPayload,
    RequestPasswordResetPayload,
    RequestTwoFactorRecoveryPayload,
    ResetPasswordPayload,
    ResolveRecoveryRequestPayload,
    RevokeSessionPayload,
    SecureAccountPayload,
    SignInPayload,
    SignOutEverywherePayload,
    SignOutPayload,
    SignUpPayload,
    StartTwoFactorPayload,
    UpdateAccountPayload,
    VerifyBillingContactPayload,
    VerifySignInPayload,
)
from schema.prepared import UNEXPECTED
from schema.recovery_types import RecoveryRequest
from schema.security_keys import (
    FinishPasskeySignInPayload,
    FinishSecurityKeyRegistrationPayload,
    RemoveAuthenticatorPayload,
    RenameAuthenticatorPayload,
    StartPasskeySignInPayload,
    StartSecurityKeyRegistrationPayload,
)
from schema.types import (
    Account,
    Node,
    Notification,
    TwoFactorStatus,
)
from services import records
from services.pagination import Page
from services.status import TwoFactorStatus as StatusRecord

logger = logging.getLogger("verrou.graphql")


async def _node(
    info: Info,
    id: Annotated[
        strawberry.ID,
        strawberry.argument(
            description="The `id` of an Account, Notification, SecurityEvent, RecoveryRequest, "
            "DeviceSession or Authenticator."
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
    # The resolver answers without a coroutine when it can (resolvers/two_factor.py): mypy
    # reads its `X | Awaitable[X]` as a different type; graphql-core awaits what needs it.
    two_factor_status: StatusRecord = strawberry.field(  # type: ignore[assignment]
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
    revoke_session: RevokeSessionPayload = strawberry.mutation(
        resolver=device_sessions.revoke_session,
        description="End one session of the signed-in account (NOT_FOUND for any other id); "
        "its open sockets close with 4403 after the SESSIONS_REVOKED notification reaches them.",
    )
    sign_out_everywhere: SignOutEverywherePayload = strawberry.mutation(
        resolver=device_sessions.sign_out_everywhere,
        description="End every session of the signed-in account but (by default) this one, and "
        "forget every remembered device; SESSIONS_REVOKED reaches the open sockets before they "
        "close with 4403.",
    )
    start_two_factor: StartTwoFactorPayload = strawberry.mutation(
        resolver=two_factor.start,
        description="Password again, then a new secret and QR code; replaces a pending setup. "
        "Also when 2FA is on through security keys only (it adds the TOTP app); "
        "TWO_FACTOR_ALREADY_ENABLED then means a TOTP app is already set up.",
    )
    cancel_two_factor_setup: CancelTwoFactorSetupPayload = strawberry.mutation(
        resolver=two_factor.cancel, description="Drop a pending setup."
    )
    confirm_two_factor: ConfirmTwoFactorPayload = strawberry.mutation(
        resolver=two_factor.confirm,
        description="First code from the app: 2FA is on; returns the backup codes, this once. "
        "When security keys had turned 2FA on already, it adds the app and backupCodes is null.",
    )
    regenerate_backup_codes: RegenerateBackupCodesPayload = strawberry.mutation(
        resolver=two_factor.regenerate_backup_codes,
        description="Ten new backup codes; every earlier code stops working.",
    )
    disable_two_factor: DisableTwoFactorPayload = strawberry.mutation(
        resolver=two_factor.disable,
        description="Password and confirm: true; deletes the secret and the backup codes. Every "
        "security key goes too: 2FA is off.",
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
            "SUPPORT only. APPROVE turns the account's 2FA off. The support account needs 2FA "
            "of its own (TWO_FACTOR_REQUIRED otherwise); APPROVE needs confirm: true and takes "
            "effect at the request's effectiveAt (status SCHEDULED, RECOVERY_WAIT_SECONDS "
            "later; at once when 0): the secret and codes are deleted and every session ends. "
            "The owner is told at once and may cancel. Either way the customer is emailed the "
            "decision and note."
        ),
    )
    cancel_two_factor_recovery: CancelTwoFactorRecoveryPayload = strawberry.mutation(
        resolver=recovery.cancel_recovery,
        description=(
            "Cancel a SCHEDULED recovery during its waiting period: by the token of the "
            "email's cancel link (no session needed), or signed in as the owner. The request "
            "becomes CANCELLED and 2FA stays on."
        ),
    )
    change_password: ChangePasswordPayload = strawberry.mutation(
        resolver=passwords.change_password,
        description=(
            "The current password again and a new one; ends the other sessions unless "
            "signOutOtherSessions is false, forgets remembered devices, sends PASSWORD_CHANGED."
        ),
    )
    request_password_reset: RequestPasswordResetPayload = strawberry.mutation(
        resolver=passwords.request_password_reset,
        description=(
            "Email a password reset link (valid 1 hour, single-use) to the account email. "
            "Always the same answer, whether the email has an account or not; rate-limited "
            "per email and per client address."
        ),
    )
    reset_password: ResetPasswordPayload = strawberry.mutation(
        resolver=passwords.reset_password,
        description=(
            "The reset link's token and a new password: ends every session; a new session, "
            "or with 2FA on a challenge for verifySignIn (a reset never skips 2FA)."
        ),
    )
    secure_account: SecureAccountPayload = strawberry.mutation(
        resolver=passwords.secure_account,
        description=(
            "'This wasn't me': ends every session, forgets every remembered device, cancels "
            "a scheduled recovery and emails a password reset link."
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
    start_security_key_registration: StartSecurityKeyRegistrationPayload = strawberry.mutation(
        resolver=security_keys.start_registration,
        description=(
            "Password again (throttled like every re-entry), then PublicKeyCredentialCreationOptions "
            "for navigator.credentials.create(), valid 5 minutes, single-use. An account holds "
            "up to 10 keys (INVALID_INPUT beyond). Works with 2FA off (the first key turns it "
            "on) or on. INVALID_INPUT when PUBLIC_URL is an IP address: keys need a host name."
        ),
    )
    finish_security_key_registration: FinishSecurityKeyRegistrationPayload = strawberry.mutation(
        resolver=security_keys.finish_registration,
        description=(
            "Verify the browser's new credential (origin, relying party, the challenge, "
            "attestation none) and store it with its name; SECURITY_KEY_REJECTED otherwise. "
            "The first authenticator turns 2FA on and returns the ten backup codes, once."
        ),
    )
    rename_authenticator: RenameAuthenticatorPayload = strawberry.mutation(
        resolver=security_keys.rename,
        description="Rename the TOTP app or a security key of the signed-in account.",
    )
    remove_authenticator: RemoveAuthenticatorPayload = strawberry.mutation(
        resolver=security_keys.remove,
        description=(
            "Password and confirm: true. Removes the TOTP app or one key; removing the last "
            "authenticator turns 2FA off (backup codes deleted, TWO_FACTOR_DISABLED, emails)."
        ),
    )
    verify_sign_in_with_security_key: VerifySignInPayload = strawberry.mutation(
        resolver=security_keys.verify_sign_in,
        description=(
            "Second step of a sign-in answered by a security key: the challenge's "
            "securityKeyOptions through navigator.credentials.get(). Failures count like wrong "
            "codes (5 per challenge, the account's window)."
        ),
    )
    start_passkey_sign_in: StartPasskeySignInPayload = strawberry.mutation(
        resolver=security_keys.start_passkey_sign_in,
        description=(
            "A passwordless sign-in: options with no allowCredentials (the passkey names the "
            "account), valid 5 minutes. Rate-limited per client address."
        ),
    )
    finish_passkey_sign_in: FinishPasskeySignInPayload = strawberry.mutation(
        resolver=security_keys.finish_passkey_sign_in,
        description=(
            "The passkey's answer, with user verification: a session, no password and no "
            "challenge. Unknown and wrong credentials alike answer SECURITY_KEY_REJECTED."
        ),
    )


async def _notifications(
    info: Info,
    after: Annotated[
        str | None,
        strawberry.argument(
            description="A notifications cursor: first the account's notifications newer than "
            "it, oldest first, then live ones, so a client that reconnects misses nothing. "
            "Take it from the feed (`viewer.notifications`): the cursor of the newest edge the "
            "client holds (`pageInfo.endCursor` replays from the page's oldest). Null: live ones "
            "only. A cursor of another account's feed replays only this account's own. Any "
            "other text is "
            'INVALID_INPUT (a top-level error, `extensions.field` ["after"]).'
        ),
    ] = None,
) -> AsyncGenerator[records.Notification, None]:
    # Closed with this one (client gone, `complete`): it unsubscribes from the broker.
    try:
        async with contextlib.aclosing(subscriptions.notifications(info, after)) as stream:
            async for notification in stream:
                yield notification
    except GraphQLError:
        raise  # the client's own errors (UNAUTHENTICATED, INVALID_INPUT)
    except Exception as error:
        # graphql-core lets an exception out of a subscription's stream with no path, and
        # the masking (schema/build.should_mask) keeps a pathless error's text, as a request
        # error's: a failure's text would reach the client. Logged here, and answered as
        # any unexpected error of a field.
        logger.error("unexpected error in the notifications stream", exc_info=error)
        raise GraphQLError(UNEXPECTED, path=info.path.as_list()) from None


@strawberry.type(description="Live updates over WebSocket.")
class Subscription:
    notifications: AsyncGenerator[records.Notification, None] = strawberry.subscription(
        resolver=_notifications,
        graphql_type=Notification,
        description="Live notifications of the signed-in account, pushed to every open session of it.",
    )
