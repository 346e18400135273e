"""Input types of the contract. An upload arrives as the file object the multipart request
carried (Starlette's UploadFile), which services read as an UploadedFile."""

from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload

from schema.enums import Locale, RecoveryDecision
from services.documents import UploadedFile


@strawberry.input(description="A new account.")
class SignUpInput:
    email: str = strawberry.field(description="Sign-in email; case does not matter.")
    password: str = strawberry.field(description="12 to 256 characters.")
    company_name: str | None = strawberry.field(default=None, description="For business customers.")
    billing_contact_email: str | None = strawberry.field(
        default=None, description="Defaults to email."
    )
    locale: Locale | None = strawberry.field(default=Locale.FR, description="Language of messages.")


@strawberry.input(description="Email and password.")
class SignInInput:
    email: str = strawberry.field(description="Sign-in email.")
    password: str = strawberry.field(description="The account's password.")
    device_token: str | None = strawberry.field(
        default=None,
        description="From an earlier verifySignIn with rememberDevice: skips the second factor "
        "while it is valid (REMEMBER_DEVICE_DAYS from verifySignIn; forgotten when the password "
        "or the 2FA enrolment changes, 2FA is turned off, or on signOutEverywhere). A wrong or "
        "expired token only means the second factor is asked.",
    )


@strawberry.input(description="The second step of a sign-in with 2FA.")
class VerifySignInInput:
    challenge_token: str = strawberry.field(description="`challenge.token` from signIn.")
    code: str = strawberry.field(
        description="A TOTP code or a backup code; spaces and hyphens are ignored."
    )
    remember_device: bool | None = strawberry.field(
        default=False,
        description="Skip the second factor on this device for REMEMBER_DEVICE_DAYS (the "
        "password is still asked). Off when the server sets it to 0: then true is refused "
        "with INVALID_INPUT.",
    )


@strawberry.input(description="Start turning 2FA on.")
class StartTwoFactorInput:
    password: str = strawberry.field(
        description="The account's password, asked again before any 2FA change."
    )


@strawberry.input(description="Finish turning 2FA on.")
class ConfirmTwoFactorInput:
    code: str = strawberry.field(description="The 6-digit code the app shows.")


@strawberry.input(description="Replace the backup codes.")
class RegenerateBackupCodesInput:
    password: str = strawberry.field(description="The account's password.")


@strawberry.input(description="Turn 2FA off.")
class DisableTwoFactorInput:
    password: str = strawberry.field(description="The account's password.")
    confirm: bool = strawberry.field(description="The second confirmation: must be true.")


@strawberry.input(description="Which notifications to mark read.")
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Empty or absent: all of the account's notifications."
    )


@strawberry.input(description="Ask support to turn 2FA off after losing the device.")
class RequestTwoFactorRecoveryInput:
    challenge_token: str = strawberry.field(description="From signIn: proves the password.")
    identity_document: UploadedFile = strawberry.field(
        graphql_type=Upload, description="Identity document of the account holder."
    )
    message: str | None = strawberry.field(default=None, description="A word for support.")
    company_registration: UploadedFile | None = strawberry.field(
        default=None,
        graphql_type=Upload | None,
        description="Required when the account has a companyName.",
    )


@strawberry.input(description="Support's answer to a recovery request.")
class ResolveRecoveryRequestInput:
    id: strawberry.ID = strawberry.field(description="Global id of the request.")
    decision: RecoveryDecision = strawberry.field(
        description="APPROVE turns the account's 2FA off."
    )
    note: str | None = strawberry.field(
        default=None, description="Sent to the customer with the decision."
    )
    confirm: bool | None = strawberry.field(
        default=False,
        description="APPROVE needs it true: the second confirmation (CONFIRMATION_REQUIRED "
        "otherwise).",
    )


@strawberry.input(description="Cancel a scheduled recovery during its waiting period.")
class CancelTwoFactorRecoveryInput:
    token: str | None = strawberry.field(
        default=None,
        description="From the 'cancel' link in the waiting-period email; not needed when "
        "signed in as the owner.",
    )


@strawberry.input(description="End one session of the signed-in account.")
class RevokeSessionInput:
    id: strawberry.ID = strawberry.field(
        description="A DeviceSession id of the signed-in account (Account.sessions)."
    )


@strawberry.input(description="End the sessions of the signed-in account.")
class SignOutEverywhereInput:
    keep_current: bool | None = strawberry.field(
        default=True, description="Keep the session making this request."
    )


@strawberry.input(description="The current password and the new one.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The account's password, asked again.")
    new_password: str = strawberry.field(
        description="The new password, under the same rules as at sign-up."
    )
    sign_out_other_sessions: bool | None = strawberry.field(
        default=True, description="End every other session of the account."
    )


@strawberry.input(description="Where to send a password reset link.")
class RequestPasswordResetInput:
    email: str = strawberry.field(description="The account's email.")


@strawberry.input(description="A new password, with the token of a reset email's link.")
class ResetPasswordInput:
    token: str = strawberry.field(description="From the reset email's link.")
    new_password: str = strawberry.field(
        description="The new password, under the same rules as at sign-up."
    )


@strawberry.input(description="The token of a 'this wasn't me' link.")
class SecureAccountInput:
    token: str = strawberry.field(description="From a 'this wasn't me' link in a security email.")


@strawberry.input(description="The account's own settings; what is given changes, the rest stays.")
class UpdateAccountInput:
    company_name: str | None = strawberry.field(
        default=None, description="An empty string removes it."
    )
    billing_contact_email: str | None = strawberry.field(
        default=None,
        description="A new address gets a verification email; until it confirms, security "
        "emails go to the account email only.",
    )
    locale: Locale | None = strawberry.field(
        default=None,
        description="Language of messages, notifications and emails, from this answer on.",
    )


@strawberry.input(description="The token of a billing contact's verification link.")
class VerifyBillingContactInput:
    token: str = strawberry.field(description="From the verification email's link.")
