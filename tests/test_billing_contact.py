"""Account settings (updateAccount), the verified billing contact (verifyBillingContact), and
security emails to the right people: through the API, with a real SMTP server."""

from __future__ import annotations

import asyncio
import contextlib
import html as html_lib
import re
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from aiosmtpd.smtp import Envelope
from starlette.applications import Starlette

from models import Account, LinkToken, OutboxEmail
from server import create_app
from services.clock import FrozenClock
from services.crypto import token_digest
from services.database import apply_migrations
from services.settings import Settings, SettingsError
from tests.conftest import mail_settings_for, make_settings, start
from tests.helpers import Api, until
from tests.smtp_server import SmtpServer
from tests.test_recovery import (
    customer,
    file_request,
    parse_mail,
    resolve,
    security_history,
    support_agent,
    text_of,
)

ALICE = "alice@example.com"
BILLING = "billing@acme.example"
OTHER = "compta@acme.example"
PUBLIC = "https://verrou.example"
LINK = re.compile(re.escape(PUBLIC) + r"/#/verify-billing-contact\?token=([A-Za-z0-9_-]+)")

UPDATE = """
mutation Update($input: UpdateAccountInput!) {
  updateAccount(input: $input) {
    account {
      email companyName billingContactEmail billingContactVerified locale
      notifications(first: 5) { edges { node { kind message } } }
    }
    errors { code field message }
  }
}
"""
VERIFY = """
mutation Verify($input: VerifyBillingContactInput!) {
  verifyBillingContact(input: $input) { errors { code field message } }
}
"""
VIEWER = "query { viewer { billingContactEmail billingContactVerified locale } }"


@pytest.fixture
def mail_settings(db_path: Path, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return mail_settings_for(
        db_path,
        tmp_path / "var",
        smtp,
        support_email="support@verrou.example",
        public_url=PUBLIC,
        # Every change wakes the worker: no fast polling, which left the worker mid-query
        # when the app stopped and (rarely, under load) made its shutdown wait forever.
        outbox_poll_seconds=5,
    )


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: FrozenClock) -> AsyncIterator[tuple[Starlette, Api]]:
    app = create_app(settings, clock=clock)
    clients = cast(AsyncGenerator[httpx.AsyncClient, None], start(app))
    async with contextlib.aclosing(clients):
        async for client in clients:
            yield app, Api(client, clock)
            # The SMTP server has a message a moment before the worker records it sent: stop
            # the app only once it has, since a worker cancelled in the middle of its SMTP
            # session can leave the app's shutdown waiting for ever.
            await until_all_sent()


async def until_all_sent() -> None:
    for _ in range(500):
        if not await OutboxEmail.filter(sent_at=None, failed_at=None).exists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the outbox still has unsent rows")


def to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    return [parse_mail(e.original_content or b"") for e in smtp.envelopes if _to(e) == [address]]


def _to(envelope: Envelope) -> list[str]:
    return list(envelope.rcpt_tos)


def html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert isinstance(body, EmailMessage)
    content: str = body.get_content()
    return content


def link_token(message: EmailMessage) -> str:
    found = LINK.search(text_of(message))
    assert found is not None, text_of(message)
    return found.group(1)


async def update(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(UPDATE, {"input": fields}, token=token))[
        "updateAccount"
    ]
    return payload


async def verify(api: Api, token: str, session: str | None = None) -> list[str]:
    payload = (await api.data(VERIFY, {"input": {"token": token}}, token=session))[
        "verifyBillingContact"
    ]
    return [error["code"] for error in payload["errors"]]


async def test_an_unverified_billing_contact_receives_nothing_but_its_verification_email(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        token, _ = await customer(api)  # signs up with BILLING, turns 2FA on
        await until(lambda: len(smtp.envelopes) == 2)
        viewer = (await api.data(VIEWER, token=token))["viewer"]
    assert viewer["billingContactVerified"] is False
    (verification,) = to(smtp, BILLING)
    assert "alice@example.com" in verification["Subject"]
    assert link_token(verification)
    (enabled,) = to(smtp, ALICE)
    assert enabled["Subject"] == "Two-factor authentication turned on for your account"


async def test_a_billing_contact_equal_to_the_account_email_is_verified_without_an_email(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        token = await api.sign_up(ALICE)
        await api.enable_two_factor(token)
        await until(lambda: len(smtp.envelopes) == 1)
        viewer = (await api.data(VIEWER, token=token))["viewer"]
    assert viewer == {"billingContactEmail": ALICE, "billingContactVerified": True, "locale": "FR"}
    assert [_to(e) for e in smtp.envelopes] == [[ALICE]]


async def test_once_verified_the_contact_gets_a_copy_worded_for_a_third_party(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        token = await api.sign_up(
            ALICE, billingContactEmail=BILLING, companyName="ACME", locale="EN"
        )
        await until(lambda: len(smtp.envelopes) == 1)
        # Signed out: the contact is another person, with no session on the account.
        assert await verify(api, link_token(to(smtp, BILLING)[0])) == []
        assert (await api.data(VIEWER, token=token))["viewer"]["billingContactVerified"] is True
        # BILLING_CONTACT_VERIFIED: to the account email and, now, to the contact.
        await until(lambda: len(smtp.envelopes) == 3)

        await api.enable_two_factor(token)
        await until(lambda: len(smtp.envelopes) == 5)
        history = await security_history(api, token)
    holder = to(smtp, ALICE)[-1]
    copy = to(smtp, BILLING)[-1]
    assert holder["Subject"] == "Two-factor authentication turned on for your account"
    assert copy["Subject"] == f"{holder['Subject']} ({ALICE})"
    for body in (text_of(copy), html_lib.unescape(html_of(copy))):
        assert (
            "You receive this copy as the verified billing contact of the account "
            'alice@example.com of your company "ACME"' in body
        )
        assert "change your account's password" not in body
    assert "change your account's password" in text_of(holder)
    assert "BILLING_CONTACT_VERIFIED" in [event["kind"] for event in history]


async def test_the_link_works_once_and_not_after_the_contact_changed(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        token = await api.sign_up(ALICE, billingContactEmail=BILLING)
        await until(lambda: len(smtp.envelopes) == 1)
        first = link_token(to(smtp, BILLING)[0])
        # Stored hashed only.
        stored = await LinkToken.get(account__email=ALICE)
        assert stored.token_hash == token_digest(first) != first

        assert await verify(api, first) == []
        assert await verify(api, first) == ["LINK_EXPIRED"]

        assert (await update(api, token, billingContactEmail=OTHER))["errors"] == []
        await until(lambda: len(to(smtp, OTHER)) == 1)
        second = link_token(to(smtp, OTHER)[0])
        assert (await update(api, token, billingContactEmail=BILLING))["errors"] == []
        await until(lambda: len(to(smtp, BILLING)) >= 3)
        # The link to OTHER is for an address that is no longer the contact.
        assert await verify(api, second) == ["LINK_EXPIRED"]
        assert await verify(api, "not-a-token") == ["LINK_EXPIRED"]
        viewer = (await api.data(VIEWER, token=token))["viewer"]
    assert viewer["billingContactVerified"] is False


async def test_a_verification_link_expires_after_seven_days(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        await api.sign_up(ALICE, billingContactEmail=BILLING)
        await until(lambda: len(smtp.envelopes) == 1)
        clock.advance(7 * 24 * 3600 + 1)
        assert await verify(api, link_token(to(smtp, BILLING)[0])) == ["LINK_EXPIRED"]


async def test_changing_a_verified_contact_tells_the_account_and_the_former_contact(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        token = await api.sign_up(ALICE, billingContactEmail=BILLING, locale="EN")
        await until(lambda: len(smtp.envelopes) == 1)
        assert await verify(api, link_token(to(smtp, BILLING)[0])) == []

        # BILLING_CONTACT_VERIFIED: to the account email and, now, to the contact.
        await until(lambda: len(smtp.envelopes) == 3)
        payload = await update(api, token, billingContactEmail="  Compta@ACME.example ")
        await until(lambda: len(smtp.envelopes) == 6)
        history = await security_history(api, token)
    assert payload["errors"] == []
    account = payload["account"]
    assert (account["billingContactEmail"], account["billingContactVerified"]) == (OTHER, False)
    assert account["notifications"]["edges"][0]["node"]["kind"] == "BILLING_CONTACT_CHANGED"
    verified, holder = to(smtp, ALICE)
    assert verified["Subject"] == "Billing contact verified"
    assert holder["Subject"] == "Billing contact changed"
    assert f"The billing contact of your account is now {OTHER}." in text_of(holder)
    # The former contact is told the emails now go elsewhere, the new address masked.
    former = to(smtp, BILLING)[-1]
    assert "now c***@acme.example" in text_of(former) and OTHER not in text_of(former)
    # The new contact receives its verification and nothing else.
    (verification,) = to(smtp, OTHER)
    assert link_token(verification)
    assert "ACCOUNT_UPDATED" in [event["kind"] for event in history]


async def test_update_account_changes_what_is_given_and_validates_as_sign_up(api: Api) -> None:
    token = await api.sign_up(ALICE, companyName="ACME")
    bob = await api.sign_up("bob@example.com", companyName="Bob & Co")

    refused = await update(api, token, billingContactEmail="not an email", companyName="x" * 201)
    assert refused["account"] is None
    assert refused["errors"][0]["field"] in (
        ["input", "companyName"],
        ["input", "billingContactEmail"],
    )

    renamed = await update(api, token, companyName="  ACME SAS ")
    assert renamed["errors"] == []
    assert renamed["account"]["companyName"] == "ACME SAS"
    assert renamed["account"]["billingContactEmail"] == ALICE  # not given: unchanged
    cleared = await update(api, token, companyName="")
    assert cleared["account"]["companyName"] is None

    bad = await update(api, token, billingContactEmail="nope")
    assert bad["errors"][0]["code"] == "INVALID_INPUT"
    assert bad["errors"][0]["field"] == ["input", "billingContactEmail"]
    assert (await Account.get(email="bob@example.com")).company_name == "Bob & Co"
    assert (await api.data(VIEWER, token=bob))["viewer"]["billingContactEmail"] == "bob@example.com"
    unauthenticated = await update(api, "", locale="EN")
    assert [error["code"] for error in unauthenticated["errors"]] == ["UNAUTHENTICATED"]


async def test_a_locale_change_applies_at_once_to_messages_notifications_and_emails(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        token = await api.sign_up(ALICE, locale="FR")
        payload = await update(api, token, locale="EN", billingContactEmail=OTHER)
        await until(lambda: len(smtp.envelopes) == 2)
        later = await update(api, token, billingContactEmail="nope")
    assert payload["errors"] == []
    assert payload["account"]["locale"] == "EN"
    note = payload["account"]["notifications"]["edges"][0]["node"]
    assert note["message"] == "The billing contact of your account was changed."
    assert to(smtp, ALICE)[0]["Subject"] == "Billing contact changed"
    assert to(smtp, OTHER)[0]["Subject"] == f"Confirm you are the billing contact of {ALICE}"
    assert later["errors"][0]["message"] == "This email address is not valid."


async def test_html_emails_link_with_anchors_and_escape_the_rest(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        await api.sign_up(
            ALICE,
            billingContactEmail=BILLING,
            companyName="<b>Evil</b> https://evil.example/x",
            locale="EN",
        )
        await until(lambda: len(smtp.envelopes) == 1)
    (message,) = to(smtp, BILLING)
    html = html_of(message)
    token = link_token(message)
    url = f"{PUBLIC}/#/verify-billing-contact?token={token}"
    assert f'<a href="{url}">{url}</a>' in html
    # What the customer typed is text: escaped, and never a link.
    assert "&lt;b&gt;Evil&lt;/b&gt;" in html and "<b>" not in html
    assert 'href="https://evil.example' not in html


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        (None, "25 November 2026 at 13:00 (UTC+01:00)"),
        ("UTC", "25 November 2026 at 12:00 (UTC+00:00)"),
    ],
)
async def test_times_are_shown_in_the_time_zone_with_the_offset(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock, zone: str | None, shown: str
) -> None:
    settings = mail_settings.model_copy(update={"time_zone": zone} if zone else {})
    async with running(settings, clock) as (_, api):
        await api.sign_up(ALICE, billingContactEmail=BILLING, locale="EN")
        await until(lambda: len(smtp.envelopes) == 1)
    assert f"Date: {shown}" in text_of(to(smtp, BILLING)[0])


def test_an_unknown_time_zone_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TIME_ZONE"):
        make_settings(tmp_path / "x.sqlite3", tmp_path, time_zone="Mars/Olympus")


async def test_support_s_address_and_browser_never_show_as_the_customer_s(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (app, api):
        token, _ = await customer(api)
        transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 52000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"user-agent": "support-desk/2.0"},
        ) as desk:
            support = Api(desk, clock)
            agent = await support_agent(support, app)
            request_id = await file_request(api, ALICE)
            # The contact's verification, Alice's and the agent's 2FA, Alice's request and
            # support's announcement of it: all sent before the decision is taken.
            await until(lambda: len(smtp.envelopes) == 5)
            assert (await resolve(support, agent, request_id, "REJECT", "No"))["errors"] == []
        await until(lambda: len(smtp.envelopes) == 6)
        history = await security_history(api, token)
    decided = next(event for event in history if event["kind"] == "RECOVERY_REJECTED")
    assert (decided["ipAddress"], decided["userAgent"]) == (None, None)
    assert all(event["ipAddress"] != "198.51.100.9" for event in history)
    decision = to(smtp, ALICE)[-1]
    assert decision["Subject"] == "Request to turn off two-factor authentication declined"
    for body in (text_of(decision), html_of(decision)):
        assert "198.51.100.9" not in body and "support-desk" not in body
    assert "By: our support team" in text_of(decision)


@pytest.mark.sqlite_only
async def test_migration_0008_marks_existing_equal_contacts_verified(tmp_path: Path) -> None:
    from tortoise import Tortoise
    from tortoise.migrations.api.migrate import migrate

    from services.database import tortoise_config

    path = tmp_path / "old.sqlite3"
    url = f"sqlite://{path}"
    try:
        await migrate(config=tortoise_config(url), target="models.0007_recovery_waiting_period")
    finally:
        await Tortoise.close_connections()
    with sqlite3.connect(path) as connection:
        for email, contact in [(ALICE, ALICE), ("bob@example.com", BILLING)]:
            connection.execute(
                "INSERT INTO account (email, password_hash, billing_contact_email, locale, role,"
                " created_at) VALUES (?, 'x', ?, 'fr', 'customer', '2026-01-01 00:00:00+00:00')",
                (email, contact),
            )
    await apply_migrations(url)
    with sqlite3.connect(path) as connection:
        rows = dict(connection.execute("SELECT email, billing_contact_verified FROM account"))
    assert rows == {ALICE: 1, "bob@example.com": 0}
