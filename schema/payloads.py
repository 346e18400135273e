"""Mutation payloads: each has `errors`, empty on success.

A payload holds what the resolvers return (records, service dataclasses); `graphql_type`
names the GraphQL type that shows it."""

from __future__ import annotations

import strawberry

from resolvers.sessions import OpenedSession
from schema.enums import ErrorCode
from schema.recovery_types import RecoveryRequest
from schema.types import (
    Account,
    Session,
    TwoFactorChallenge,
    TwoFactorSetup,
    TwoFactorStatus,
)
from services import records
from services.status import TwoFactorStatus as StatusRecord


@strawberry.type(
    description="An expected failure of a mutation, meant to be shown to a person. "
    "Unexpected failures stay in the top-level `errors` of the response, masked."
)
class UserError:
    code: ErrorCode = strawberry.field(
        description="Stable machine-readable reason; clients switch on it."
    )
    field: list[str] | None = strawberry.field(
        description='Path of the input field the error is about, e.g. ["input", "code"].'
    )
    message: str = strawberry.field(
        description="Human message in the account's locale (or the request's Accept-Language)."
    )
    retry_after: int | None = strawberry.field(
        default=None, description="For RATE_LIMITED: seconds to wait before trying again."
    )


_ERRORS = "Expected failures, empty on success."


def errors_field() -> list[UserError]:
    """Every payload's `errors` field."""
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)
    return errors


_errors = errors_field


@strawberry.type(description="Result of signUp.")
class SignUpPayload:
    session: OpenedSession | None = strawberry.field(
        default=None, graphql_type=Session | None, description="The new account's first session."
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="On success exactly one of session and challenge is set.")
class SignInPayload:
    session: OpenedSession | None = strawberry.field(
        default=None, graphql_type=Session | None, description="Set when the account has no 2FA."
    )
    challenge: TwoFactorChallenge | None = strawberry.field(
        default=None, description="Set when a second factor is due: call verifySignIn."
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of verifySignIn.")
class VerifySignInPayload:
    session: OpenedSession | None = strawberry.field(
        default=None, graphql_type=Session | None, description="The new session."
    )
    used_backup_code: bool = strawberry.field(
        default=False, description="The code was a backup code."
    )
    backup_codes_remaining: int | None = strawberry.field(
        default=None, description="Unused backup codes left after this sign-in."
    )
    device_token: str | None = strawberry.field(
        default=None,
        description="With rememberDevice: an opaque token to send as `deviceToken` with later "
        "signIn calls from this device. Shown once; only a hash of it is stored.",
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of signOut.")
class SignOutPayload:
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of startTwoFactor.")
class StartTwoFactorPayload:
    setup: TwoFactorSetup | None = strawberry.field(
        default=None, description="What the authenticator app needs."
    )
    errors: list[UserError] = _errors()


# A normalised client cache (Apollo, urql Graphcache, Relay) keys the account on its id and
# merges this answer into it: the 2FA screen updates without a second query.
_ACCOUNT_AFTER = (
    "The signed-in account after the change, its twoFactor fresh: a normalised client cache "
    "(Apollo, urql Graphcache, Relay) updates the 2FA screen from this answer."
)


@strawberry.type(description="Result of cancelTwoFactorSetup.")
class CancelTwoFactorSetupPayload:
    status: StatusRecord | None = strawberry.field(
        default=None, graphql_type=TwoFactorStatus | None, description="The status afterwards."
    )
    account: records.Account | None = strawberry.field(
        default=None, graphql_type=Account | None, description=_ACCOUNT_AFTER
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of confirmTwoFactor.")
class ConfirmTwoFactorPayload:
    status: StatusRecord | None = strawberry.field(
        default=None, graphql_type=TwoFactorStatus | None, description="The status afterwards."
    )
    backup_codes: list[str] | None = strawberry.field(
        default=None,
        description="Ten single-use backup codes, shown once. Only when this confirmation "
        "turned 2FA on; null when security keys had already (the existing codes stay valid).",
    )
    account: records.Account | None = strawberry.field(
        default=None, graphql_type=Account | None, description=_ACCOUNT_AFTER
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of regenerateBackupCodes.")
class RegenerateBackupCodesPayload:
    status: StatusRecord | None = strawberry.field(
        default=None, graphql_type=TwoFactorStatus | None, description="The status afterwards."
    )
    backup_codes: list[str] | None = strawberry.field(
        default=None, description="Ten new codes; every earlier code stops working."
    )
    account: records.Account | None = strawberry.field(
        default=None, graphql_type=Account | None, description=_ACCOUNT_AFTER
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of disableTwoFactor.")
class DisableTwoFactorPayload:
    status: StatusRecord | None = strawberry.field(
        default=None, graphql_type=TwoFactorStatus | None, description="The status afterwards."
    )
    account: records.Account | None = strawberry.field(
        default=None, graphql_type=Account | None, description=_ACCOUNT_AFTER
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of markNotificationsRead.")
class MarkNotificationsReadPayload:
    unread_notification_count: int = strawberry.field(
        default=0, description="Unread notifications left."
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of requestTwoFactorRecovery.")
class RequestTwoFactorRecoveryPayload:
    request: records.RecoveryRequest | None = strawberry.field(
        default=None, graphql_type=RecoveryRequest | None, description="The request sent."
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of resolveRecoveryRequest.")
class ResolveRecoveryRequestPayload:
    request: records.RecoveryRequest | None = strawberry.field(
        default=None, graphql_type=RecoveryRequest | None, description="The resolved request."
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of revokeSession.")
class RevokeSessionPayload:
    account: records.Account | None = strawberry.field(
        default=None,
        graphql_type=Account | None,
        description="The signed-in account, its sessions without the ended one.",
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of changePassword.")
class ChangePasswordPayload:
    account: records.Account | None = strawberry.field(
        default=None, graphql_type=Account | None, description="The account afterwards."
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of signOutEverywhere.")
class SignOutEverywherePayload:
    account: records.Account | None = strawberry.field(
        default=None,
        graphql_type=Account | None,
        description="The signed-in account, its sessions afterwards.",
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Always the same answer, whether the email has an account or not.")
class RequestPasswordResetPayload:
    errors: list[UserError] = _errors()


@strawberry.type(
    description="A reset never skips 2FA: with 2FA on, a challenge is returned and verifySignIn gives the session."
)
class ResetPasswordPayload:
    session: OpenedSession | None = strawberry.field(
        default=None,
        graphql_type=Session | None,
        description="Set when the account has no 2FA: a new session.",
    )
    challenge: TwoFactorChallenge | None = strawberry.field(
        default=None,
        description="Set when the account has 2FA: call verifySignIn (or ask for a recovery).",
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of cancelTwoFactorRecovery.")
class CancelTwoFactorRecoveryPayload:
    request: records.RecoveryRequest | None = strawberry.field(
        default=None,
        graphql_type=RecoveryRequest | None,
        description="The request, now CANCELLED.",
    )
    errors: list[UserError] = _errors()


@strawberry.type(description="Result of updateAccount.")
class UpdateAccountPayload:
    account: records.Account | None = strawberry.field(
        default=None, graphql_type=Account | None, description="The account as it now is."
    )
    errors: list[UserError] = _errors()


@strawberry.type(
    description="Ends every session and forgets every remembered device of the account, cancels a scheduled recovery, and emails a password reset link."
)
class SecureAccountPayload:
    errors: list[UserError] = _errors()


@strawberry.type(
    description="Result of verifyBillingContact: no errors, and the address receives the "
    "account's security emails from now on."
)
class VerifyBillingContactPayload:
    errors: list[UserError] = _errors()
