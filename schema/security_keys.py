"""Security keys and passkeys: the types, inputs and payloads of the contract's section B."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from resolvers.queries import KINDS_OF_GLOBAL
from resolvers.sessions import OpenedSession
from schema.enums import TwoFactorMethod
from schema.global_id import to_global_id
from schema.payloads import UserError, errors_field
from schema.types import Account, Node, Session
from services import records

GLOBAL_KINDS = {kind: name for name, kind in KINDS_OF_GLOBAL.items()}


def authenticator_id(authenticator: records.Authenticator) -> strawberry.ID:
    return strawberry.ID(to_global_id(GLOBAL_KINDS[authenticator.kind], authenticator.pk))


def _id(authenticator: strawberry.Parent[records.Authenticator]) -> strawberry.ID:
    return authenticator_id(authenticator)


def _kind(authenticator: strawberry.Parent[records.Authenticator]) -> TwoFactorMethod:
    return TwoFactorMethod[authenticator.kind]


@strawberry.type(description="One registered second factor.")
class Authenticator(Node):
    id: strawberry.ID = strawberry.field(
        resolver=_id,
        description="Opaque global id; pass it to renameAuthenticator or removeAuthenticator.",
    )
    kind: TwoFactorMethod = strawberry.field(
        resolver=_kind, description="TOTP for the authenticator app, SECURITY_KEY for a key."
    )
    name: str = strawberry.field(
        description="Chosen by the customer, e.g. 'YubiKey 5C' or 'iPhone' (the TOTP app's "
        "default is 'Authenticator app', in the account's language)."
    )
    created_at: datetime = strawberry.field(description="When it was added.")
    last_used_at: datetime | None = strawberry.field(
        description="Its last accepted sign-in; null if never."
    )
    passkey: bool = strawberry.field(
        description="A discoverable credential that can also sign in without a password."
    )
    flagged_at: datetime | None = strawberry.field(
        default=None,
        description="Set when the key's signature counter went backwards (it may have been "
        "copied): it is refused from then on; remove it and register it again.",
    )


@strawberry.type(
    description="What the browser needs to create a credential; valid until expiresAt."
)
class SecurityKeyRegistration:
    options: JSON = strawberry.field(
        description="PublicKeyCredentialCreationOptions in WebAuthn JSON form (for "
        "navigator.credentials.create() after decoding, or @simplewebauthn/browser's "
        "startRegistration({optionsJSON})). The account's keys are excluded."
    )
    expires_at: datetime = strawberry.field(
        description="Five minutes after the start; a later answer is SECURITY_KEY_REJECTED."
    )


@strawberry.type(description="A passwordless sign-in: valid until expiresAt.")
class PasskeySignIn:
    token: str = strawberry.field(description="Send it back with finishPasskeySignIn.")
    options: JSON = strawberry.field(
        description="PublicKeyCredentialRequestOptions (WebAuthn JSON), with no "
        "allowCredentials: the passkey names the account. User verification required."
    )
    expires_at: datetime = strawberry.field(description="Five minutes after the start.")


@strawberry.input(description="Start registering a security key or passkey.")
class StartSecurityKeyRegistrationInput:
    password: str = strawberry.field(
        description="The account's password, asked again before any 2FA change."
    )
    passkey: bool | None = strawberry.field(
        default=False,
        description="Ask for a discoverable credential with user verification (a passkey).",
    )


@strawberry.input(description="Finish registering a security key or passkey.")
class FinishSecurityKeyRegistrationInput:
    credential: JSON = strawberry.field(
        description="The PublicKeyCredential from navigator.credentials.create(), in WebAuthn "
        "JSON form (PublicKeyCredential.toJSON(), or what startRegistration resolves to)."
    )
    name: str = strawberry.field(description="The customer's name for it, 1 to 64 characters.")


@strawberry.input(description="Rename a second factor.")
class RenameAuthenticatorInput:
    id: strawberry.ID = strawberry.field(description="An Authenticator id of the account.")
    name: str = strawberry.field(description="1 to 64 characters.")


@strawberry.input(description="Remove a second factor.")
class RemoveAuthenticatorInput:
    id: strawberry.ID = strawberry.field(description="An Authenticator id of the account.")
    password: str = strawberry.field(
        description="The account's password, asked again before any 2FA change."
    )
    confirm: bool = strawberry.field(
        description="The second confirmation: must be true. Removing the last authenticator "
        "turns 2FA off."
    )


@strawberry.input(description="The second step of a sign-in, answered by a security key.")
class VerifySignInWithSecurityKeyInput:
    challenge_token: str = strawberry.field(description="`challenge.token` from signIn.")
    credential: JSON = strawberry.field(
        description="The PublicKeyCredential from navigator.credentials.get(), in WebAuthn "
        "JSON form."
    )
    remember_device: bool | None = strawberry.field(
        default=False,
        description="Skip the second factor on this device for REMEMBER_DEVICE_DAYS, as with "
        "verifySignIn.",
    )


@strawberry.input(description="Finish a passwordless sign-in.")
class FinishPasskeySignInInput:
    token: str = strawberry.field(description="`passkeySignIn.token` from startPasskeySignIn.")
    credential: JSON = strawberry.field(
        description="The PublicKeyCredential from navigator.credentials.get(), in WebAuthn "
        "JSON form."
    )


@strawberry.type(description="Result of startSecurityKeyRegistration.")
class StartSecurityKeyRegistrationPayload:
    registration: SecurityKeyRegistration | None = strawberry.field(
        default=None, description="Pass its options to the browser."
    )
    errors: list[UserError] = errors_field()


@strawberry.type(description="Result of finishSecurityKeyRegistration.")
class FinishSecurityKeyRegistrationPayload:
    authenticator: records.Authenticator | None = strawberry.field(
        default=None, graphql_type=Authenticator | None, description="The new key."
    )
    account: records.Account | None = strawberry.field(
        default=None, graphql_type=Account | None, description="The account afterwards."
    )
    backup_codes: list[str] | None = strawberry.field(
        default=None,
        description="Ten backup codes when this key turned 2FA on; null otherwise. Shown once.",
    )
    errors: list[UserError] = errors_field()


@strawberry.type(description="Result of renameAuthenticator.")
class RenameAuthenticatorPayload:
    authenticator: records.Authenticator | None = strawberry.field(
        default=None, graphql_type=Authenticator | None, description="With its new name."
    )
    errors: list[UserError] = errors_field()


@strawberry.type(description="Result of removeAuthenticator.")
class RemoveAuthenticatorPayload:
    account: records.Account | None = strawberry.field(
        default=None,
        graphql_type=Account | None,
        description="The account afterwards (its twoFactor lists what remains).",
    )
    errors: list[UserError] = errors_field()


@strawberry.type(description="Result of startPasskeySignIn.")
class StartPasskeySignInPayload:
    passkey_sign_in: PasskeySignIn | None = strawberry.field(
        default=None, description="Pass its options to the browser."
    )
    errors: list[UserError] = errors_field()


@strawberry.type(
    description="A passkey with user verification is both factors: no password, no challenge."
)
class FinishPasskeySignInPayload:
    session: OpenedSession | None = strawberry.field(
        default=None, graphql_type=Session | None, description="The new session."
    )
    errors: list[UserError] = errors_field()
