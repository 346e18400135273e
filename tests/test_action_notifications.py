"""The notifications of verifyBillingContact, updateAccount, requestPasswordReset and
verifySignIn(rememberDevice): in the feed in the account's language, and emailed (but the reset
request, whose email is the reset link's) — through the API, with a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from models import OutboxEmail
from services.clock import FrozenClock
from services.settings import Settings
from tests.conftest import mail_settings_for
from tests.helpers import PASSWORD, Api, until
from tests.smtp_server import SmtpServer
from tests.test_passwords import mails_to, text_of

ALICE = "alice@example.com"
BOB = "bob@example.com"
BILLING = "billing@acme.example"
PUBLIC_URL = "https://verrou.example"
VERIFY_LINK = re.compile(
    re.escape(PUBLIC_URL) + r"/#/verify-billing-contact\?token=([A-Za-z0-9_-]+)"
)

FEED = "query { viewer { notifications(first: 20) { edges { node { kind message } } } } }"
UPDATE = """
mutation Update($input: UpdateAccountInput!) {
  updateAccount(input: $input) { errors { code field } }
}
"""
VERIFY_CONTACT = """
mutation Verify($input: VerifyBillingContactInput!) {
  verifyBillingContact(input: $input) { errors { code field } }
}
"""
REQUEST_RESET = """
mutation Request($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { errors { code } }
}
"""
SIGN_IN = """
mutation S($input: SignInInput!) { signIn(input: $input) { challenge { token } errors { code } } }
"""
VERIFY_SIGN_IN = """
mutation V($input: VerifySignInInput!) {
  verifySignIn(input: $input) { session { token } deviceToken errors { code } }
}
"""


@pytest.fixture
def settings(db_path: Path, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return mail_settings_for(db_path, tmp_path / "var", smtp, public_url=PUBLIC_URL)


def subjects(smtp: SmtpServer, recipient: str) -> list[str]:
    return [str(message["Subject"]) for message in mails_to(smtp, recipient)]


async def feed(api: Api, token: str) -> list[dict[str, str]]:
    edges: list[dict[str, Any]] = (await api.data(FEED, token=token))["viewer"]["notifications"][
        "edges"
    ]
    return [edge["node"] for edge in edges]


def of_kind(notes: list[dict[str, str]], kind: str) -> list[str]:
    return [note["message"] for note in notes if note["kind"] == kind]


async def test_verifying_the_billing_contact_tells_the_holder_and_the_contact(
    api: Api, smtp: SmtpServer
) -> None:
    alice = await api.sign_up(ALICE, billingContactEmail=BILLING, locale="EN")
    bob = await api.sign_up(BOB, locale="EN")
    await until(lambda: len(mails_to(smtp, BILLING)) == 1)
    found = VERIFY_LINK.search(text_of(mails_to(smtp, BILLING)[0]))
    assert found is not None
    payload = (await api.data(VERIFY_CONTACT, {"input": {"token": found.group(1)}}))[
        "verifyBillingContact"
    ]
    assert payload["errors"] == []

    assert of_kind(await feed(api, alice), "BILLING_CONTACT_VERIFIED") == [
        "The billing contact billing@acme.example confirmed its address: it now receives a "
        "copy of the security emails."
    ]
    assert of_kind(await feed(api, bob), "BILLING_CONTACT_VERIFIED") == []
    await until(lambda: "Billing contact verified" in subjects(smtp, ALICE))
    await until(lambda: len(mails_to(smtp, BILLING)) == 2)
    copy = mails_to(smtp, BILLING)[1]
    assert "is now the verified billing contact of the account" in text_of(copy)
    assert subjects(smtp, BOB) == []


async def test_updating_company_and_language_is_told_in_the_new_language(
    api: Api, smtp: SmtpServer
) -> None:
    alice = await api.sign_up(ALICE, locale="EN")
    bob = await api.sign_up(BOB, locale="EN")
    payload = (
        await api.data(UPDATE, {"input": {"companyName": "Acme", "locale": "FR"}}, token=alice)
    )["updateAccount"]
    assert payload["errors"] == []
    assert of_kind(await feed(api, alice), "ACCOUNT_UPDATED") == [
        "Le nom de l'entreprise (Acme) et la langue de votre compte ont été modifiés."
    ]
    await until(lambda: "Paramètres du compte modifiés" in subjects(smtp, ALICE))
    (mail,) = mails_to(smtp, ALICE)
    assert "« Acme »" in text_of(mail) and "le français" in text_of(mail)

    # The company alone, in English for Bob; a contact change is BILLING_CONTACT_CHANGED alone.
    await api.data(UPDATE, {"input": {"companyName": "Bobco"}}, token=bob)
    await api.data(UPDATE, {"input": {"billingContactEmail": BILLING}}, token=bob)
    bob_feed = await feed(api, bob)
    assert of_kind(bob_feed, "ACCOUNT_UPDATED") == [
        "The company name of your account was changed: Bobco."
    ]
    assert len(of_kind(bob_feed, "BILLING_CONTACT_CHANGED")) == 1
    await until(lambda: len(mails_to(smtp, BOB)) == 2)
    assert subjects(smtp, BOB) == ["Account settings changed", "Billing contact changed"]
    assert len(of_kind(await feed(api, alice), "ACCOUNT_UPDATED")) == 1


async def test_a_reset_request_is_in_the_feed_with_only_the_reset_email(
    api: Api, smtp: SmtpServer
) -> None:
    alice = await api.sign_up(ALICE, locale="EN")
    bob = await api.sign_up(BOB, locale="EN")
    payload = (await api.data(REQUEST_RESET, {"input": {"email": ALICE}}))["requestPasswordReset"]
    assert payload["errors"] == []
    assert of_kind(await feed(api, alice), "PASSWORD_RESET_REQUESTED") == [
        "A password reset link was sent to your account's email. If it was not you, ignore it: "
        "your password stays the same."
    ]
    assert of_kind(await feed(api, bob), "PASSWORD_RESET_REQUESTED") == []
    # The notification's email would have been queued in the same transaction: there is
    # one row for Alice, the reset link's, and that is what she receives.
    assert await OutboxEmail.filter(recipient=ALICE).count() == 1
    await until(lambda: len(mails_to(smtp, ALICE)) == 1)
    (mail,) = mails_to(smtp, ALICE)
    assert "/#/reset-password?token=" in text_of(mail)


async def test_remembering_a_device_is_told_with_its_label_and_end(
    api: Api, smtp: SmtpServer, clock: FrozenClock
) -> None:
    alice = await api.sign_up(ALICE, locale="EN")
    secret = (await api.enable_two_factor(alice)).secret
    bob = await api.sign_up(BOB, locale="EN")
    await api.enable_two_factor(bob)
    variables = {"input": {"email": ALICE, "password": PASSWORD}}
    challenge = (await api.data(SIGN_IN, variables))["signIn"]["challenge"]["token"]
    verified = (
        await api.data(
            VERIFY_SIGN_IN,
            {
                "input": {
                    "challengeToken": challenge,
                    "code": api.code(secret),
                    "rememberDevice": True,
                }
            },
        )
    )["verifySignIn"]
    assert verified["errors"] == [] and verified["deviceToken"]
    ends = clock.now() + timedelta(days=30)
    until_day = ends.astimezone(ZoneInfo("Europe/Paris")).date().isoformat()

    (message,) = of_kind(await feed(api, alice), "DEVICE_REMEMBERED")
    assert message.startswith("The device ") and message.endswith(f"until {until_day}.")
    assert of_kind(await feed(api, bob), "DEVICE_REMEMBERED") == []
    remembered = "A device was remembered on your account"
    await until(lambda: remembered in subjects(smtp, ALICE))
    (mail,) = [m for m in mails_to(smtp, ALICE) if m["Subject"] == remembered]
    assert "without the second factor until" in text_of(mail)
    assert remembered not in subjects(smtp, BOB)
