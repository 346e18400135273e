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
    description=(
        "Stable machine-readable reason of a `UserError`, and the `extensions.code` of a "
        "top-level error; clients switch on it. Each value says when it happens, then what a "
        "client should do (docs/errors.md's table is this text: tests/test_docs.py)."
    )
)
class ErrorCode(Enum):
    INVALID_INPUT = strawberry.enum_value(
        "INVALID_INPUT",
        description="Malformed input: a bad email, a password outside 12 to 256 characters, a company name over 200 characters, a recovery message or note over 2,000 characters, a recovery request without the KBIS of a company account or while another one is pending, a connection's `first` outside 1 to 100 or a bad `after` cursor, or a mutation that changes 2FA or sends email asked again in the same request (an alias: that one did nothing, `field` null). Show `message` next to `field` and let the person fix it.",
    )
    UNAUTHENTICATED = strawberry.enum_value(
        "UNAUTHENTICATED",
        description="No valid session: a mutation that needs one got no valid bearer token (missing, expired or revoked); `twoFactorStatus` answers it as a top-level error. Send the person to sign in, then retry with the new token.",
    )
    FORBIDDEN = strawberry.enum_value(
        "FORBIDDEN",
        description="Signed in, but not allowed: `resolveRecoveryRequest` by an account that is not SUPPORT, or by an agent on a request about their own account (`recoveryRequests` answers it as a top-level error). Hide the action; retrying cannot help.",
    )
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND",
        description="`resolveRecoveryRequest` with an id that is not a recovery request's, or one the caller may not see. Refresh the list.",
    )
    EMAIL_TAKEN = strawberry.enum_value(
        "EMAIL_TAKEN",
        description="`signUp` with an email that already has an account (case-insensitive). Offer to sign in instead.",
    )
    INVALID_CREDENTIALS = strawberry.enum_value(
        "INVALID_CREDENTIALS",
        description="Wrong email or password (never says which) in `signIn`, or a wrong password in `startTwoFactor`, `regenerateBackupCodes` or `disableTwoFactor`. Ask for the password again.",
    )
    INVALID_CODE = strawberry.enum_value(
        "INVALID_CODE",
        description="Wrong TOTP or backup code in `verifySignIn` or `confirmTwoFactor`. Let the person retype the code. If it keeps failing, check the phone's clock.",
    )
    CODE_ALREADY_USED = strawberry.enum_value(
        "CODE_ALREADY_USED",
        description="A TOTP code that was already accepted once (replay): its time step is spent, for example by the code that confirmed the setup. Wait for the next code in the app (at most 30 s).",
    )
    RATE_LIMITED = strawberry.enum_value(
        "RATE_LIMITED",
        description="More than 10 failed passwords (per email) or second factors (per account) in 15 minutes. Wait `retryAfter` seconds: disable the form and show a countdown.",
    )
    CHALLENGE_EXPIRED = strawberry.enum_value(
        "CHALLENGE_EXPIRED",
        description="The sign-in challenge is unknown, used up or expired: the token given to `verifySignIn` or `requestTwoFactorRecovery` was never issued, is already used, is older than 5 minutes, or has had 5 wrong codes. Go back to the email and password step (`signIn`).",
    )
    TWO_FACTOR_ALREADY_ENABLED = strawberry.enum_value(
        "TWO_FACTOR_ALREADY_ENABLED",
        description="`startTwoFactor` or `confirmTwoFactor` while 2FA is on. Refresh `twoFactorStatus`.",
    )
    TWO_FACTOR_NOT_ENABLED = strawberry.enum_value(
        "TWO_FACTOR_NOT_ENABLED",
        description="`regenerateBackupCodes` or `disableTwoFactor` while 2FA is off. Refresh `twoFactorStatus`.",
    )
    NO_PENDING_SETUP = strawberry.enum_value(
        "NO_PENDING_SETUP",
        description="confirmTwoFactor without a started setup (never started, or cancelled). Call `startTwoFactor`.",
    )
    SETUP_EXPIRED = strawberry.enum_value(
        "SETUP_EXPIRED",
        description="`confirmTwoFactor` more than 10 minutes after `startTwoFactor`. Call `startTwoFactor` again and scan the new QR code (delete the old entry in the app).",
    )
    CONFIRMATION_REQUIRED = strawberry.enum_value(
        "CONFIRMATION_REQUIRED",
        description='disableTwoFactor without confirm: true. Ask "continue?" and send `confirm: true`.',
    )
    FILE_TOO_LARGE = strawberry.enum_value(
        "FILE_TOO_LARGE",
        description="A `requestTwoFactorRecovery` document over 10 MB (`MAX_DOCUMENT_BYTES`); `field` names it. Ask for a smaller file.",
    )
    UNSUPPORTED_FILE_TYPE = strawberry.enum_value(
        "UNSUPPORTED_FILE_TYPE",
        description="A `requestTwoFactorRecovery` document whose content is not a PDF, JPEG or PNG (the name and declared type do not count); `field` names it. Ask for a PDF, JPEG or PNG.",
    )
    ALREADY_RESOLVED = strawberry.enum_value(
        "ALREADY_RESOLVED",
        description="The recovery request was already approved or rejected (`resolveRecoveryRequest` on a resolved request). Refresh the request; the earlier decision stands.",
    )
    TWO_FACTOR_REQUIRED = strawberry.enum_value(
        "TWO_FACTOR_REQUIRED",
        description="The action needs 2FA on the acting account (support staff must have it). Turn 2FA on for this account, sign in again with the second factor, then retry.",
    )
    LINK_EXPIRED = strawberry.enum_value(
        "LINK_EXPIRED",
        description="A link or token from an email is unknown, already used or expired. Ask for a new email (the action that sent it).",
    )
    SECURITY_KEY_REJECTED = strawberry.enum_value(
        "SECURITY_KEY_REJECTED",
        description="The security key's or passkey's answer could not be verified (wrong origin or relying party, a challenge unknown, used or expired, a bad signature, another account's key, a signature counter that went backwards, no user verification for a passkey). Counted as a failed attempt. Start over: call the start mutation again (or signIn) and ask the person to use a key of this account.",
    )
    PERSISTED_QUERY_NOT_ALLOWED = strawberry.enum_value(
        "PERSISTED_QUERY_NOT_ALLOWED",
        description="The operation is not in the server's list of trusted documents. The server runs only the documents of its manifest (TRUSTED_DOCUMENTS_ONLY): a top-level error, nothing was executed. Send the operation's `documentId` from the manifest, and ship a new operation in the manifest before a client sends it.",
    )


@strawberry.enum(description="The second factor of an account.")
class TwoFactorMethod(Enum):
    TOTP = strawberry.enum_value("TOTP", description="Time-based one-time codes (RFC 6238).")
    SECURITY_KEY = strawberry.enum_value(
        "SECURITY_KEY", description="A FIDO2/WebAuthn security key or passkey."
    )


@strawberry.enum(description="What verifySignIn accepts.")
class SecondFactorKind(Enum):
    TOTP = strawberry.enum_value("TOTP", description="The 6-digit code of the authenticator app.")
    BACKUP_CODE = strawberry.enum_value("BACKUP_CODE", description="One of the backup codes.")
    SECURITY_KEY = strawberry.enum_value(
        "SECURITY_KEY",
        description="One of the account's security keys: answer `securityKeyOptions` with "
        "navigator.credentials.get() and send it to verifySignInWithSecurityKey.",
    )


@strawberry.enum(description="What a notification is about.")
class NotificationKind(Enum):
    TWO_FACTOR_ENABLED = strawberry.enum_value(
        "TWO_FACTOR_ENABLED",
        description="2FA was turned on by its first authenticator: confirmTwoFactor, or "
        "finishSecurityKeyRegistration (params `method` SECURITY_KEY and `name`).",
    )
    TWO_FACTOR_DISABLED = strawberry.enum_value(
        "TWO_FACTOR_DISABLED",
        description="2FA was turned off (disableTwoFactor, or removeAuthenticator of the last one).",
    )
    BACKUP_CODES_REGENERATED = strawberry.enum_value(
        "BACKUP_CODES_REGENERATED", description="A new batch of backup codes replaced the old one."
    )
    BACKUP_CODE_USED = strawberry.enum_value(
        "BACKUP_CODE_USED", description="A backup code was used to sign in."
    )
    BACKUP_CODES_LOW = strawberry.enum_value(
        "BACKUP_CODES_LOW", description="Few unused backup codes are left: time to regenerate them."
    )
    RECOVERY_REQUESTED = strawberry.enum_value(
        "RECOVERY_REQUESTED", description="A lost-device recovery request was sent to support."
    )
    RECOVERY_APPROVED = strawberry.enum_value(
        "RECOVERY_APPROVED", description="Support approved the recovery request: 2FA is off."
    )
    RECOVERY_REJECTED = strawberry.enum_value(
        "RECOVERY_REJECTED", description="Support rejected the recovery request: 2FA stays on."
    )
    SESSIONS_REVOKED = strawberry.enum_value(
        "SESSIONS_REVOKED",
        description="Sessions were ended by 'sign out everywhere', a revocation or 'this wasn't me'.",
    )
    NEW_SIGN_IN = strawberry.enum_value(
        "NEW_SIGN_IN",
        description="A sign-in from a browser or device not seen on this account before; the email has a 'this wasn't me' link.",
    )
    SECOND_FACTOR_FAILURES = strawberry.enum_value(
        "SECOND_FACTOR_FAILURES",
        description="Several wrong second-factor codes after a right password: someone may know the password.",
    )
    RECOVERY_SCHEDULED = strawberry.enum_value(
        "RECOVERY_SCHEDULED",
        description="Support approved a recovery: 2FA turns off at the request's effectiveAt "
        "unless the owner cancels (the email has a cancel link).",
    )
    RECOVERY_CANCELLED = strawberry.enum_value(
        "RECOVERY_CANCELLED",
        description="A scheduled recovery was cancelled: 2FA stays on.",
    )
    PASSWORD_CHANGED = strawberry.enum_value(
        "PASSWORD_CHANGED",
        description="The password was changed (changePassword) or reset by an emailed link "
        "(resetPassword): params `via` is CHANGE or RESET.",
    )
    BILLING_CONTACT_CHANGED = strawberry.enum_value(
        "BILLING_CONTACT_CHANGED",
        description="The billing contact changed (updateAccount); the former verified contact "
        "is told too.",
    )
    BILLING_CONTACT_VERIFIED = strawberry.enum_value(
        "BILLING_CONTACT_VERIFIED",
        description="The billing contact confirmed its address (verifyBillingContact): it now "
        "receives a copy of the security emails (params `billing_contact`).",
    )
    ACCOUNT_UPDATED = strawberry.enum_value(
        "ACCOUNT_UPDATED",
        description="updateAccount changed the company name and/or the language (params "
        "`company_changed`, `locale_changed`, `company_name`); a billing contact change is "
        "BILLING_CONTACT_CHANGED instead.",
    )
    PASSWORD_RESET_REQUESTED = strawberry.enum_value(
        "PASSWORD_RESET_REQUESTED",
        description="A password reset link was emailed (requestPasswordReset); in the feed and "
        "live only, the reset email being its email.",
    )
    DEVICE_REMEMBERED = strawberry.enum_value(
        "DEVICE_REMEMBERED",
        description="verifySignIn(rememberDevice: true) remembered a device (params `device`, "
        "`until`, a date in TIME_ZONE): it skips the second factor until then.",
    )
    AUTHENTICATOR_ADDED = strawberry.enum_value(
        "AUTHENTICATOR_ADDED",
        description="A second factor was added while 2FA was on already: a security key "
        "(params `kind` SECURITY_KEY, `name`) or the TOTP app (`kind` TOTP). The first one "
        "turns 2FA on and sends TWO_FACTOR_ENABLED instead.",
    )
    AUTHENTICATOR_REMOVED = strawberry.enum_value(
        "AUTHENTICATOR_REMOVED",
        description="A second factor was removed and others remain (params `kind`, `name`). "
        "Removing the last one sends TWO_FACTOR_DISABLED instead.",
    )
    SECURITY_KEY_FLAGGED = strawberry.enum_value(
        "SECURITY_KEY_FLAGGED",
        description="A security key answered with a signature counter that went backwards, "
        "a sign that it may have been copied (params `name`): it is refused from now on, until "
        "it is removed and registered again.",
    )


@strawberry.enum(description="How a notification should look (a blue banner is SUCCESS or INFO).")
class NotificationLevel(Enum):
    INFO = strawberry.enum_value("INFO", description="Neutral information.")
    SUCCESS = strawberry.enum_value(
        "SUCCESS", description="A change the person asked for went through (the blue banner)."
    )
    WARNING = strawberry.enum_value(
        "WARNING", description="Something that may need the person's attention."
    )


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
    SESSION_REVOKED = strawberry.enum_value(
        "SESSION_REVOKED",
        description="Sessions were ended from the list of signed-in devices (revokeSession) or by signOutEverywhere.",
    )
    DEVICE_REMEMBERED = strawberry.enum_value(
        "DEVICE_REMEMBERED",
        description="A browser was remembered at sign-in (verifySignIn with rememberDevice): it skips the second factor for REMEMBER_DEVICE_DAYS.",
    )
    RECOVERY_SCHEDULED = strawberry.enum_value(
        "RECOVERY_SCHEDULED",
        description="Support approved a recovery: 2FA turns off at the request's effectiveAt.",
    )
    RECOVERY_CANCELLED = strawberry.enum_value(
        "RECOVERY_CANCELLED",
        description="A scheduled recovery was cancelled: by the owner (link or signed in) or by "
        "a sign-in with the second factor during the waiting period.",
    )
    PASSWORD_CHANGED = strawberry.enum_value(
        "PASSWORD_CHANGED", description="The password was changed by changePassword."
    )
    PASSWORD_RESET_REQUESTED = strawberry.enum_value(
        "PASSWORD_RESET_REQUESTED", description="A password reset link was emailed."
    )
    PASSWORD_RESET = strawberry.enum_value(
        "PASSWORD_RESET", description="The password was set by a reset link (resetPassword)."
    )
    ACCOUNT_SECURED = strawberry.enum_value(
        "ACCOUNT_SECURED",
        description="A 'this wasn't me' link ended every session and emailed a reset link.",
    )
    ACCOUNT_UPDATED = strawberry.enum_value(
        "ACCOUNT_UPDATED",
        description="The company name, billing contact or language changed (updateAccount).",
    )
    BILLING_CONTACT_VERIFIED = strawberry.enum_value(
        "BILLING_CONTACT_VERIFIED",
        description="The billing contact confirmed its address by the emailed link.",
    )
    AUTHENTICATOR_ADDED = strawberry.enum_value(
        "AUTHENTICATOR_ADDED", description="A security key, passkey or TOTP app was added."
    )
    AUTHENTICATOR_REMOVED = strawberry.enum_value(
        "AUTHENTICATOR_REMOVED", description="A security key, passkey or TOTP app was removed."
    )
    SECURITY_KEY_USED = strawberry.enum_value(
        "SECURITY_KEY_USED",
        description="A security key answered a sign-in (second step or passkey sign-in).",
    )
    SECURITY_KEY_REJECTED = strawberry.enum_value(
        "SECURITY_KEY_REJECTED",
        description="A security key's answer (registration or sign-in) did not verify.",
    )
    SECURITY_KEY_FLAGGED = strawberry.enum_value(
        "SECURITY_KEY_FLAGGED",
        description="A key's signature counter went backwards (it may have been copied): the "
        "answer was refused and the key is refused from now on (Authenticator.flaggedAt).",
    )
    RECOVERY_DOCUMENT_OPENED = strawberry.enum_value(
        "RECOVERY_DOCUMENT_OPENED",
        description="Support opened a document of the account's recovery request (support's "
        "own IP address and browser are not shown).",
    )


@strawberry.enum(description="Where a lost-device recovery request stands.")
class RecoveryStatus(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Waiting for support's review.")
    APPROVED = strawberry.enum_value(
        "APPROVED",
        description="The account's 2FA was turned off: at support's approval when there is no "
        "waiting period, otherwise at effectiveAt.",
    )
    REJECTED = strawberry.enum_value(
        "REJECTED", description="Support rejected it: the account's 2FA is unchanged."
    )
    SCHEDULED = strawberry.enum_value(
        "SCHEDULED",
        description="Approved; 2FA turns off at effectiveAt unless the owner cancels first "
        "(RECOVERY_WAIT_SECONDS after support's approval).",
    )
    CANCELLED = strawberry.enum_value(
        "CANCELLED",
        description="The owner cancelled it during the waiting period, or proved they still "
        "have a second factor (a sign-in with it); 2FA stays on.",
    )


@strawberry.enum(description="Support's answer to a recovery request.")
class RecoveryDecision(Enum):
    APPROVE = strawberry.enum_value(
        "APPROVE", description="The documents check out: turn the account's 2FA off."
    )
    REJECT = strawberry.enum_value(
        "REJECT", description="The documents do not check out: leave 2FA on."
    )


@strawberry.enum(description="What a recovery document is.")
class DocumentKind(Enum):
    IDENTITY = strawberry.enum_value(
        "IDENTITY", description="Identity document of the account holder."
    )
    COMPANY_REGISTRATION = strawberry.enum_value(
        "COMPANY_REGISTRATION", description="Company registration extract (French KBIS)."
    )
