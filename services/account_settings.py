"""The account's own settings (company name, billing contact, language) and the verification
of a billing contact by an emailed link.

A billing contact other than the account email receives nothing but its verification email
until it opens the link (`billing_contact_verified`); from then on it gets a copy of every
security email (services.emails.recipients). A change of contact is told to the account email
and to the former contact when it was verified: someone who took over the session must not
quietly divert the account's security emails. The former contact sees the new address masked
(it need not learn a stranger's address, only that the emails now go elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import Account, LinkToken
from models.accounts import Locale
from services import changes, emails, link_tokens, validation
from services.crypto import token_digest
from services.errors import LinkExpired
from services.link_tokens import LinkPurpose
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind

VERIFICATION_VALID_FOR = timedelta(days=7)


@dataclass(frozen=True)
class AccountUpdate:
    """What updateAccount was given: None leaves a setting as it is, "" clears the company."""

    company_name: str | None = None
    billing_contact_email: str | None = None
    locale: Locale | None = None


def verification_link(rt: Runtime, token: str) -> str:
    return f"{rt.settings.base_url}/#/verify-billing-contact?token={token}"


async def send_verification(
    rt: Runtime, account: Account, meta: RequestMeta, connection: BaseDBAsyncClient
) -> None:
    """Email the billing contact its verification link; a newer link replaces the older."""
    await link_tokens.revoke(account.id, LinkPurpose.VERIFY_BILLING_CONTACT, connection)
    token = await link_tokens.issue(
        rt,
        account.id,
        LinkPurpose.VERIFY_BILLING_CONTACT,
        VERIFICATION_VALID_FOR,
        connection,
        subject=account.billing_contact_email,
    )
    await emails.enqueue_verification(
        rt, account, account.billing_contact_email, verification_link(rt, token), meta, connection
    )


async def after_sign_up(rt: Runtime, account: Account, meta: RequestMeta) -> None:
    """A new account with a billing contact of its own: that contact's verification email."""
    if account.billing_contact_verified:
        return
    async with in_transaction() as connection:
        await send_verification(rt, account, meta, connection)
    rt.mail_ready.set()


async def update(
    rt: Runtime, account: Account, update: AccountUpdate, meta: RequestMeta
) -> Account:
    """Apply what was given, validated as at sign-up; ACCOUNT_UPDATED in the history."""
    company = account.company_name
    if update.company_name is not None:
        company = validation.optional_text(
            update.company_name, "company_name", validation.COMPANY_MAX
        )
    contact = account.billing_contact_email
    if update.billing_contact_email is not None:
        contact = validation.email(update.billing_contact_email, "billing_contact_email")
    company_changed = company != account.company_name
    locale_changed = update.locale is not None and update.locale != account.locale
    async with changes.account_change(rt, account, meta) as change:
        account.company_name = company
        if update.locale is not None:
            # First, so this change's own emails are already in the new language.
            account.locale = update.locale
        fields = ["company_name", "locale"]
        if contact != account.billing_contact_email:
            new_verified = contact == account.email
            # Told while the account still has its former contact: its copy (when verified)
            # goes out with the account email's.
            await change.notify(
                NotificationKind.BILLING_CONTACT_CHANGED,
                {
                    "billing_contact": contact,
                    "billing_contact_masked": emails.mask_address(contact),
                    "billing_contact_verified": new_verified,
                },
            )
            account.billing_contact_email = contact
            account.billing_contact_verified = new_verified
            fields += ["billing_contact_email", "billing_contact_verified"]
            if new_verified:
                await link_tokens.revoke(
                    account.id, LinkPurpose.VERIFY_BILLING_CONTACT, change.connection
                )
            else:
                await send_verification(rt, account, meta, change.connection)
        else:
            await _notify_settings_changed(change, company_changed, locale_changed)
        await account.save(using_db=change.connection, update_fields=fields)
        await change.record_event(SecurityEventKind.ACCOUNT_UPDATED)
    rt.mail_ready.set()
    return account


async def _notify_settings_changed(
    change: changes.Change, company_changed: bool, locale_changed: bool
) -> None:
    """ACCOUNT_UPDATED naming what changed, in the account's (new) language; nothing when
    nothing did. A contact change is told by BILLING_CONTACT_CHANGED alone."""
    if not (company_changed or locale_changed):
        return
    variant = {
        (True, False): "NOTIFICATION_ACCOUNT_UPDATED_COMPANY_NAME",
        (False, True): "NOTIFICATION_ACCOUNT_UPDATED_LOCALE",
        (True, True): "NOTIFICATION_ACCOUNT_UPDATED",
    }[(company_changed, locale_changed)]
    await change.notify(
        NotificationKind.ACCOUNT_UPDATED,
        {
            "company_name": change.account.company_name or "",
            "company_changed": company_changed,
            "locale_changed": locale_changed,
        },
        message_key=variant,
    )


async def verify_billing_contact(rt: Runtime, token: str, meta: RequestMeta) -> Account:
    """Open a verification link (signed in or not: the contact may be another person).
    LinkExpired for an unknown, used or expired link, and for one sent to an address that is
    no longer the account's billing contact. BILLING_CONTACT_VERIFIED tells the account
    holder (and, from now on, the contact too)."""
    pending = await LinkToken.get_or_none(
        token_hash=token_digest(token), purpose=LinkPurpose.VERIFY_BILLING_CONTACT.value
    )
    if pending is None:
        raise LinkExpired(field="token")
    account = await Account.get(id=pending.account_id)
    async with changes.account_change(rt, account, meta) as change:
        # The conditional spend decides between two requests with the same link.
        link = await link_tokens.spend(
            rt, token, LinkPurpose.VERIFY_BILLING_CONTACT, change.connection
        )
        await account.refresh_from_db(using_db=change.connection)
        if link.subject != account.billing_contact_email:
            raise LinkExpired(field="token")
        account.billing_contact_verified = True
        await account.save(using_db=change.connection, update_fields=["billing_contact_verified"])
        await change.record_event(SecurityEventKind.BILLING_CONTACT_VERIFIED)
        await change.notify(
            NotificationKind.BILLING_CONTACT_VERIFIED,
            {"billing_contact": account.billing_contact_email},
        )
    return account
