"""Object types of the contract.

Resolvers hand back service records (models) and dataclasses whose attributes already carry
the field names, so most fields are plain attributes. A field computed from its object is
a resolver function below that takes the object as `strawberry.Parent[...]`; a field holding
a record says the record's Python type and names its GraphQL type with `graphql_type`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from resolvers import fields
from resolvers.context import Info
from schema.connections import Connection
from schema.enums import (
    Locale,
    NotificationKind,
    NotificationLevel,
    Role,
    SecondFactorKind,
    SecurityEventKind,
    TwoFactorMethod,
)
from schema.global_id import to_global_id
from services import records
from services.pagination import Page
from services.status import TwoFactorStatus as StatusRecord

if TYPE_CHECKING:
    from schema.security_keys import Authenticator

# The two arguments of every connection (Relay cursor pagination, forward only).
FIRST = "How many items at most, 1 to 100."
AFTER = "The `endCursor` of the previous page; null: from the start."


def _same_name(cls: type, obj: Any) -> bool:
    # Resolvers return models (Tortoise) named like the GraphQL type, not instances of it.
    return isinstance(obj, cls) or type(obj).__name__ == cls.__name__


@strawberry.interface(
    description="Relay object identification: every entity has an opaque, global, stable id."
)
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id; pass it to `node(id:)`.")

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return _same_name(cls, obj)


def _method(status: strawberry.Parent[StatusRecord]) -> TwoFactorMethod | None:
    return TwoFactorMethod[status.method] if status.method else None


async def _authenticators(
    status: strawberry.Parent[StatusRecord], info: Info
) -> list[records.Authenticator]:
    return await fields.authenticators(info, status)


@strawberry.type(description="Two-factor authentication state of an account.")
class TwoFactorStatus:
    enabled: bool = strawberry.field(
        description="2FA is on: signing in asks for a second factor. True while the account has "
        "at least one authenticator (a TOTP app or a security key)."
    )
    enabled_at: datetime | None = strawberry.field(description="When 2FA was turned on.")
    pending_setup: bool = strawberry.field(
        description="startTwoFactor was called and confirmTwoFactor not yet (and the setup has not expired)."
    )
    backup_codes_remaining: int = strawberry.field(
        description="Unused backup codes; 0 when 2FA is off."
    )
    backup_codes_generated_at: datetime | None = strawberry.field(
        description="When the current batch of backup codes was made."
    )
    method: TwoFactorMethod | None = strawberry.field(
        resolver=_method,
        description="TOTP when enabled, null otherwise. With security keys: TOTP when a TOTP "
        "app is set up, SECURITY_KEY when only keys are.",
    )
    authenticators: list[records.Authenticator] = strawberry.field(
        resolver=_authenticators,
        graphql_type=list[Annotated["Authenticator", strawberry.lazy("schema.security_keys")]],
        description="Every second factor of the account (the TOTP app and each security key), "
        "oldest first.",
    )


@strawberry.type(
    description="What an authenticator app needs; returned only while the setup is pending."
)
class TwoFactorSetup:
    secret: str = strawberry.field(
        description="Base32 secret: the key to keep, for manual entry or reinstalling the app."
    )
    otpauth_uri: str = strawberry.field(
        description="otpauth://totp/ URI in the Key Uri Format that Google Authenticator reads."
    )
    qr_code_svg: str = strawberry.field(
        description="QR code of otpauthUri as standalone SVG markup."
    )
    qr_code_data_uri: str = strawberry.field(
        description="QR code of otpauthUri as a data: URI (image/png), ready for <img src>."
    )
    issuer: str = strawberry.field(description="Issuer shown in the app (TOTP_ISSUER).")
    account_name: str = strawberry.field(
        description="Account label shown in the app: the sign-in email."
    )
    algorithm: str = strawberry.field(default="SHA1", description="SHA1")
    digits: int = strawberry.field(default=6, description="6")
    period: int = strawberry.field(default=30, description="30 (seconds)")
    expires_at: datetime = strawberry.field(
        description="After this, confirmTwoFactor answers SETUP_EXPIRED."
    )


def _notification_id(notification: strawberry.Parent[records.Notification]) -> strawberry.ID:
    return strawberry.ID(to_global_id("Notification", notification.id))


def _notification_message(notification: strawberry.Parent[records.Notification], info: Info) -> str:
    return fields.notification_message(info, notification)


def _notification_cursor(notification: strawberry.Parent[records.Notification]) -> str:
    return fields.notification_cursor(notification)


# Account is defined below (it pages notifications: one of the two comes first). Strawberry
# evaluates `graphql_type` when the class is decorated, so it cannot name a later class; a
# return annotation can (read when the schema is built), at the price of saying Account where
# the resolver returns the record Account shows.
async def _notification_account(
    notification: strawberry.Parent[records.Notification], info: Info
) -> Account:
    return await fields.notification_account(info, notification)  # type: ignore[return-value]


@strawberry.type(
    description="A message about a change on the account, shown as a banner and kept in a feed."
)
class Notification(Node):
    kind: NotificationKind = strawberry.field(description="What it is about.")
    level: NotificationLevel = strawberry.field(description="How it should look.")
    created_at: datetime = strawberry.field(description="When it happened.")
    read_at: datetime | None = strawberry.field(description="When it was marked read.")
    id: strawberry.ID = strawberry.field(resolver=_notification_id, description="Opaque global id.")
    message: str = strawberry.field(
        resolver=_notification_message, description="In the account's locale."
    )
    account: Account = strawberry.field(
        resolver=_notification_account,
        description="The account, so a client cache can refresh its 2FA status from the event itself.",
    )
    cursor: str = strawberry.field(
        resolver=_notification_cursor,
        description="Its cursor in the feed (as the feed's edge has it): keep the newest one "
        "received, live or from the feed, and pass it as `after` when the subscription "
        "reconnects, to receive only what came after it.",
    )


def _security_event_id(event: strawberry.Parent[records.SecurityEvent]) -> strawberry.ID:
    return strawberry.ID(to_global_id("SecurityEvent", event.id))


@strawberry.type(description="One entry of the account's security history.")
class SecurityEvent(Node):
    kind: SecurityEventKind = strawberry.field(description="What happened.")
    created_at: datetime = strawberry.field(description="When.")
    ip_address: str | None = strawberry.field(description="From which IP address.")
    user_agent: str | None = strawberry.field(description="With which browser or app.")
    id: strawberry.ID = strawberry.field(
        resolver=_security_event_id, description="Opaque global id."
    )


def _account_id(account: strawberry.Parent[records.Account]) -> strawberry.ID:
    return strawberry.ID(to_global_id("Account", account.id))


async def _two_factor(account: strawberry.Parent[records.Account], info: Info) -> StatusRecord:
    return await fields.two_factor_status(info, account.id)


async def _notifications(
    account: strawberry.Parent[records.Account],
    info: Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
    after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    unread_only: Annotated[
        bool | None, strawberry.argument(description="Only notifications not yet read.")
    ] = False,
) -> Page[records.Notification]:
    return await fields.notifications(info, account, first, after, bool(unread_only))


async def _unread_notification_count(
    account: strawberry.Parent[records.Account], info: Info
) -> int:
    return await fields.unread_notification_count(info, account)


async def _security_events(
    account: strawberry.Parent[records.Account],
    info: Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
    after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
) -> Page[records.SecurityEvent]:
    return await fields.security_events(info, account, first, after)


def _device_session_id(device: strawberry.Parent[records.DeviceSession]) -> strawberry.ID:
    return strawberry.ID(to_global_id("DeviceSession", device.id))


@strawberry.type(description="A signed-in browser or device.")
class DeviceSession(Node):
    created_at: datetime = strawberry.field(description="When it signed in.")
    last_seen_at: datetime = strawberry.field(
        description="Its last use (recorded at most once a minute)."
    )
    expires_at: datetime = strawberry.field(
        description="When it ends: the earlier of the idle and the absolute limit, as of now."
    )
    ip_address: str | None = strawberry.field(description="The IP address it signed in from.")
    user_agent: str | None = strawberry.field(description="Its User-Agent header at sign-in.")
    device_label: str | None = strawberry.field(
        description="Readable, e.g. 'Firefox on Windows' or 'Safari on iPhone'."
    )
    current: bool = strawberry.field(description="True for the session making this request.")
    remembered_until: datetime | None = strawberry.field(
        description="This device skips the second factor at sign-in until this time "
        "(remembered device); null otherwise."
    )
    id: strawberry.ID = strawberry.field(
        resolver=_device_session_id, description="Opaque global id; pass it to revokeSession."
    )


async def _sessions(
    account: strawberry.Parent[records.Account], info: Info
) -> list[records.DeviceSession]:
    return await fields.account_sessions(info, account)


@strawberry.type(description="A customer-area account.")
class Account(Node):
    email: str = strawberry.field(description="Sign-in email.")
    company_name: str | None = strawberry.field(description="Company, for business customers.")
    billing_contact_email: str = strawberry.field(
        description="Where confirmation emails about security changes are sent, besides the "
        "account email, once it has confirmed its address (billingContactVerified)."
    )
    billing_contact_verified: bool = strawberry.field(
        description="Security emails go to the billing contact only once it has confirmed its "
        "address by the emailed link. True when it is the account email."
    )
    locale: Locale = strawberry.field(description="Language of messages and emails.")
    role: Role = strawberry.field(description="CUSTOMER or SUPPORT.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    id: strawberry.ID = strawberry.field(resolver=_account_id, description="Opaque global id.")
    two_factor: StatusRecord = strawberry.field(
        resolver=_two_factor, graphql_type=TwoFactorStatus, description="2FA status of the account."
    )
    notifications: Page[records.Notification] = strawberry.field(
        resolver=_notifications,
        graphql_type=Connection[Notification],
        description="Newest first. The account's own inbox: only its owner reads it (FORBIDDEN "
        "for anyone else, support included).",
    )
    unread_notification_count: int = strawberry.field(
        resolver=_unread_notification_count,
        description="Notifications not yet marked read; like notifications, for the owner only.",
    )
    security_events: Page[records.SecurityEvent] = strawberry.field(
        resolver=_security_events,
        graphql_type=Connection[SecurityEvent],
        description="The account's security history, newest first. Its owner reads it, and "
        "support reads that of an account with a recovery request (sign-ins, changes and where "
        "they came from help decide the request).",
    )
    sessions: list[records.DeviceSession] = strawberry.field(
        resolver=_sessions,
        graphql_type=list[DeviceSession],
        description="The account's signed-in sessions (browsers and devices), most recently "
        "used first. The account's own only (FORBIDDEN for anyone else, support included).",
    )


@strawberry.type(
    description="A signed-in session. The token goes in `Authorization: Bearer <token>`."
)
class Session:
    token: str = strawberry.field(description="Shown once; only a hash of it is stored.")
    expires_at: datetime = strawberry.field(description="After this the token is refused.")
    account: records.Account = strawberry.field(
        graphql_type=Account, description="The signed-in account."
    )


@strawberry.type(
    description="Returned by signIn when the account has 2FA: the password was right, a second factor is due."
)
class TwoFactorChallenge:
    token: str = strawberry.field(
        description="Short-lived; pass it to verifySignIn or requestTwoFactorRecovery."
    )
    expires_at: datetime = strawberry.field(description="About 5 minutes after signIn.")
    methods: list[SecondFactorKind] = strawberry.field(
        description="What verifySignIn accepts (TOTP when the account has a TOTP app, "
        "BACKUP_CODE always), and SECURITY_KEY when its keys can answer "
        "verifySignInWithSecurityKey."
    )
    security_key_options: JSON | None = strawberry.field(
        default=None,
        description="When methods include SECURITY_KEY: PublicKeyCredentialRequestOptions "
        "(WebAuthn JSON) for navigator.credentials.get(), with allowCredentials = the "
        "account's keys.",
    )
