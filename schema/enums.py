"""Enums of the contract. Values mirror what services and models store, so a model's
value serialises directly (e.g. the stored locale "fr" is the enum value FR)."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Language of the messages and emails of an account.")
class Locale(Enum):
    FR = strawberry.enum_value("fr", description="French (the default).")
    EN = strawberry.enum_value("en", description="English.")


@strawberry.enum(description="What an account may do.")
class Role(Enum):
    CUSTOMER = strawberry.enum_value("customer", description="A customer of the customer area.")
    SUPPORT = strawberry.enum_value(
        "support", description="A support agent, who reviews lost-device recovery requests."
    )


@strawberry.enum(
    description="Stable machine-readable reason of a `UserError`; clients switch on it."
)
class ErrorCode(Enum):
    INVALID_INPUT = strawberry.enum_value(
        "INVALID_INPUT", description="An input field is malformed; `field` says which."
    )
    UNAUTHENTICATED = strawberry.enum_value(
        "UNAUTHENTICATED", description="No valid session: sign in and retry with the new token."
    )
    FORBIDDEN = strawberry.enum_value(
        "FORBIDDEN", description="Signed in, but this account may not do this."
    )
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="The entity does not exist or is not visible to the caller."
    )
    EMAIL_TAKEN = strawberry.enum_value(
        "EMAIL_TAKEN", description="signUp with an email that already has an account."
    )
    INVALID_CREDENTIALS = strawberry.enum_value(
        "INVALID_CREDENTIALS", description="Wrong email or password (never says which)."
    )
    INVALID_CODE = strawberry.enum_value(
        "INVALID_CODE", description="Wrong TOTP or backup code; let the person type it again."
    )
    CODE_ALREADY_USED = strawberry.enum_value(
        "CODE_ALREADY_USED",
        description="A TOTP code that was already accepted once (replay): wait for the next code.",
    )
    RATE_LIMITED = strawberry.enum_value(
        "RATE_LIMITED",
        description="Too many failed attempts; wait `retryAfter` seconds before trying again.",
    )
    CHALLENGE_EXPIRED = strawberry.enum_value(
        "CHALLENGE_EXPIRED",
        description="The sign-in challenge is unknown, used up or expired: sign in again.",
    )
    TWO_FACTOR_ALREADY_ENABLED = strawberry.enum_value(
        "TWO_FACTOR_ALREADY_ENABLED", description="2FA is already on; refresh the status."
    )
    TWO_FACTOR_NOT_ENABLED = strawberry.enum_value(
        "TWO_FACTOR_NOT_ENABLED", description="The operation needs 2FA on, and it is off."
    )
    NO_PENDING_SETUP = strawberry.enum_value(
        "NO_PENDING_SETUP",
        description="confirmTwoFactor without a started setup: call startTwoFactor.",
    )
    SETUP_EXPIRED = strawberry.enum_value(
        "SETUP_EXPIRED",
        description="The setup is older than its expiry: call startTwoFactor again.",
    )
    CONFIRMATION_REQUIRED = strawberry.enum_value(
        "CONFIRMATION_REQUIRED",
        description="disableTwoFactor without confirm: true; ask the person to confirm.",
    )
    FILE_TOO_LARGE = strawberry.enum_value(
        "FILE_TOO_LARGE", description="An uploaded file is over the size limit."
    )
    UNSUPPORTED_FILE_TYPE = strawberry.enum_value(
        "UNSUPPORTED_FILE_TYPE", description="An uploaded file is not a PDF, JPEG or PNG."
    )
    ALREADY_RESOLVED = strawberry.enum_value(
        "ALREADY_RESOLVED", description="The recovery request was already approved or rejected."
    )


@strawberry.enum(description="The second factor of an account.")
class TwoFactorMethod(Enum):
    TOTP = strawberry.enum_value("TOTP", description="Time-based one-time codes (RFC 6238).")


@strawberry.enum(description="What verifySignIn accepts.")
class SecondFactorKind(Enum):
    TOTP = strawberry.enum_value("TOTP", description="The 6-digit code of the authenticator app.")
    BACKUP_CODE = strawberry.enum_value("BACKUP_CODE", description="One of the backup codes.")


@strawberry.enum(description="What a notification is about.")
class NotificationKind(Enum):
    TWO_FACTOR_ENABLED = "TWO_FACTOR_ENABLED"
    TWO_FACTOR_DISABLED = "TWO_FACTOR_DISABLED"
    BACKUP_CODES_REGENERATED = "BACKUP_CODES_REGENERATED"
    BACKUP_CODE_USED = "BACKUP_CODE_USED"
    BACKUP_CODES_LOW = "BACKUP_CODES_LOW"
    RECOVERY_REQUESTED = "RECOVERY_REQUESTED"
    RECOVERY_APPROVED = "RECOVERY_APPROVED"
    RECOVERY_REJECTED = "RECOVERY_REJECTED"


@strawberry.enum(description="How a notification should look (a blue banner is SUCCESS or INFO).")
class NotificationLevel(Enum):
    INFO = "INFO"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"


@strawberry.enum(description="What happened, in the account's security history.")
class SecurityEventKind(Enum):
    SIGNED_IN = strawberry.enum_value("SIGNED_IN", description="A session was opened.")
    SIGN_IN_FAILED = strawberry.enum_value("SIGN_IN_FAILED", description="A wrong password.")
    SECOND_FACTOR_FAILED = strawberry.enum_value(
        "SECOND_FACTOR_FAILED", description="A wrong, replayed or expired second factor."
    )
    BACKUP_CODE_USED = strawberry.enum_value(
        "BACKUP_CODE_USED", description="A backup code was used to sign in."
    )
    TWO_FACTOR_SETUP_STARTED = strawberry.enum_value(
        "TWO_FACTOR_SETUP_STARTED", description="startTwoFactor was called."
    )
    TWO_FACTOR_ENABLED = strawberry.enum_value("TWO_FACTOR_ENABLED", description="2FA turned on.")
    TWO_FACTOR_DISABLED = strawberry.enum_value(
        "TWO_FACTOR_DISABLED", description="2FA turned off."
    )
    BACKUP_CODES_REGENERATED = strawberry.enum_value(
        "BACKUP_CODES_REGENERATED", description="A new batch of backup codes replaced the old one."
    )
    RECOVERY_REQUESTED = strawberry.enum_value(
        "RECOVERY_REQUESTED", description="A lost-device recovery was requested."
    )
    RECOVERY_APPROVED = strawberry.enum_value(
        "RECOVERY_APPROVED", description="Support approved a recovery: 2FA turned off."
    )
    RECOVERY_REJECTED = strawberry.enum_value(
        "RECOVERY_REJECTED", description="Support rejected a recovery request."
    )
    SIGNED_OUT = strawberry.enum_value("SIGNED_OUT", description="A session was closed.")


@strawberry.enum(description="Where a lost-device recovery request stands.")
class RecoveryStatus(Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@strawberry.enum(description="Support's answer to a recovery request.")
class RecoveryDecision(Enum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


@strawberry.enum(description="What a recovery document is.")
class DocumentKind(Enum):
    IDENTITY = strawberry.enum_value(
        "IDENTITY", description="Identity document of the account holder."
    )
    COMPANY_REGISTRATION = strawberry.enum_value(
        "COMPANY_REGISTRATION", description="Company registration extract (French KBIS)."
    )
