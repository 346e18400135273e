"""The lost-device recovery emails: three to the account holder, one announcement to support."""

from __future__ import annotations

import email
import email.policy
import html as html_lib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from models import Account, OutboxEmail
from services import emails
from services.runtime import RequestMeta, Runtime
from services.settings import Settings
from tests.conftest import T0, make_settings
from tests.helpers import Api

BILLING = "billing@acme.example"
SUPPORT = "support@verrou.example"
MAIL_FROM = "Verrou <no-reply@verrou.example>"
META = RequestMeta(ip_address="203.0.113.7", user_agent="verrou-tests/1.0")
REQUEST_ID = "REQ-7F3K9Q"
LINK = "https://verrou.example/support/recovery/REQ-7F3K9Q?view=1&tab=documents"

SUBJECTS = {
    ("RECOVERY_REQUESTED", "fr"): "Demande de désactivation de la double authentification reçue",
    ("RECOVERY_REQUESTED", "en"): "Request to turn off two-factor authentication received",
    ("RECOVERY_APPROVED", "fr"): "Double authentification désactivée à votre demande",
    ("RECOVERY_APPROVED", "en"): "Two-factor authentication turned off at your request",
    ("RECOVERY_REJECTED", "fr"): "Demande de désactivation de la double authentification refusée",
    ("RECOVERY_REJECTED", "en"): "Request to turn off two-factor authentication declined",
}
WHAT = {
    ("RECOVERY_REQUESTED", "fr"): "Notre support va vérifier vos pièces justificatives",
    ("RECOVERY_REQUESTED", "en"): "Our support will check your documents",
    ("RECOVERY_APPROVED", "fr"): "toutes ses sessions ont été déconnectées",
    ("RECOVERY_APPROVED", "en"): "all its sessions were signed out",
    ("RECOVERY_REJECTED", "fr"): "La double authentification reste active",
    ("RECOVERY_REJECTED", "en"): "Two-factor authentication stays on",
}
NOTE_LABEL = {"fr": "Message du support", "en": "Note from support"}
NOTE_LINE = {
    "fr": "Message du support : « <b>x</b> please »",
    "en": 'Note from support: "<b>x</b> please"',
}
CONTACT = {
    "fr": f"contactez notre support à {SUPPORT} en rappelant la référence {REQUEST_ID}",
    "en": f"contact our support at {SUPPORT}, quoting the reference {REQUEST_ID}",
}
IF_NOT_YOU = {
    "fr": "Si vous n'êtes pas à l'origine de cette action, changez sans attendre le mot de passe",
    "en": "If this was not you, change your account's password right away",
}
WITH_NOTE = ["RECOVERY_APPROVED", "RECOVERY_REJECTED"]


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    return make_settings(
        db_path,
        tmp_path / "var",
        mail_from=MAIL_FROM,
        support_email=SUPPORT,
        outbox_worker=False,
    )


async def sign_up(api: Api, locale: str = "fr", **extra: Any) -> Account:
    await api.sign_up(
        "alice@example.com", billingContactEmail=BILLING, locale=locale.upper(), **extra
    )
    return await Account.get(email="alice@example.com")


def parse(row: OutboxEmail) -> EmailMessage:
    message = email.message_from_string(row.message, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts, checking they are the only two."""
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


def params(kind: str, note: str) -> dict[str, object]:
    return (
        {"request_id": REQUEST_ID, "note": note}
        if kind in WITH_NOTE
        else {"request_id": REQUEST_ID}
    )


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("kind", sorted({kind for kind, _ in SUBJECTS}))
async def test_each_recovery_kind_tells_the_account_holder_in_their_language(
    api: Api, rt: Runtime, kind: str, locale: str
) -> None:
    account = await sign_up(api, locale)
    (row,) = await emails.enqueue(rt, account, kind, META, params(kind, ""))

    message = parse(row)
    assert message.get_content_type() == "multipart/alternative"
    assert message["From"] == MAIL_FROM
    # The account email: the billing contact has not confirmed its address (test_emails.py
    # shows the verified contact's copy).
    assert message["To"] == "alice@example.com" == row.recipient
    assert message["Subject"] == SUBJECTS[kind, locale] == row.subject
    assert message["Date"] == "Wed, 25 Nov 2026 12:00:00 +0000"
    assert message["Message-ID"] == row.message_id
    assert (row.created_at, row.next_attempt_at) == (T0, T0)

    text, html = bodies(message)
    for body in (text, html_lib.unescape(html)):
        assert WHAT[kind, locale] in body
        assert REQUEST_ID in body
        assert "alice@example.com" in body and "203.0.113.7" in body
        assert IF_NOT_YOU[locale] in body
        assert NOTE_LABEL[locale] not in body
        assert LINK not in body


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("kind", WITH_NOTE)
async def test_a_note_from_support_is_shown_and_escaped_in_html(
    api: Api, rt: Runtime, kind: str, locale: str
) -> None:
    account = await sign_up(api, locale)
    (row,) = await emails.enqueue(rt, account, kind, META, params(kind, "<b>x</b> please"))

    text, html = bodies(parse(row))
    assert NOTE_LINE[locale] in text
    assert "&lt;b&gt;x&lt;/b&gt; please" in html
    assert "<b>" not in html


@pytest.mark.parametrize("locale", ["fr", "en"])
async def test_a_rejection_points_to_the_support_address(
    api: Api, rt: Runtime, locale: str
) -> None:
    account = await sign_up(api, locale)
    (row,) = await emails.enqueue(
        rt, account, "RECOVERY_REJECTED", META, params("RECOVERY_REJECTED", "")
    )

    text, html = bodies(parse(row))
    assert CONTACT[locale] in text and CONTACT[locale] in html_lib.unescape(html)


async def test_support_is_told_in_french_with_the_link_and_without_the_documents(
    api: Api, rt: Runtime
) -> None:
    account = await sign_up(api, "en", companyName="Acme <SAS>")
    row = await emails.enqueue_support_announcement(rt, account, REQUEST_ID, LINK, META)

    message = parse(row)
    assert message.get_content_type() == "multipart/alternative"
    assert message["From"] == MAIL_FROM
    assert message["To"] == SUPPORT == row.recipient != BILLING
    expected = "Nouvelle demande de désactivation 2FA — alice@example.com"
    assert message["Subject"] == expected == row.subject
    assert message["Date"] == "Wed, 25 Nov 2026 12:00:00 +0000"
    assert message["Message-ID"] == row.message_id
    assert row.message_id.endswith("@verrou.example>")
    assert row.message.isascii()
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert not list(message.iter_attachments())

    text, html = bodies(message)
    assert "&lt;SAS&gt;" in html and "&amp;tab=documents" in html
    for body in (text, html_lib.unescape(html)):
        assert LINK in body
        assert "alice@example.com (« Acme <SAS> »)" in body
        assert "25/11/2026 à 13:00 (UTC+01:00)" in body
        assert "203.0.113.7" in body
        assert REQUEST_ID in body
        assert IF_NOT_YOU["fr"] not in body and IF_NOT_YOU["en"] not in body
        assert BILLING not in body


async def test_the_support_announcement_is_never_sent_to_the_customer(
    api: Api, rt: Runtime
) -> None:
    account = await sign_up(api, "fr")
    before = await OutboxEmail.all().count()  # the billing contact's verification
    with pytest.raises(ValueError, match="for support"):
        await emails.enqueue(
            rt,
            account,
            emails.SUPPORT_RECOVERY_REQUESTED,
            META,
            {"request_id": REQUEST_ID, "link": LINK},
        )
    assert await OutboxEmail.all().count() == before
