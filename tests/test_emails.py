"""The security emails: what each kind says, in French and English, to the account email and
(a copy for a third party) to the verified billing contact."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2
import pytest

from models import Account, OutboxEmail
from services import emails
from services.runtime import RequestMeta, Runtime
from services.settings import Settings
from tests.conftest import T0, make_settings
from tests.helpers import PASSWORD, Api

BILLING = "billing@acme.example"
SUPPORT = "support@verrou.example"
MAIL_FROM = "Verrou <no-reply@verrou.example>"
META = RequestMeta(ip_address="203.0.113.7", user_agent="verrou-tests/1.0")

SUBJECTS = {
    ("TWO_FACTOR_ENABLED", "fr"): "Double authentification activée sur votre compte",
    ("TWO_FACTOR_ENABLED", "en"): "Two-factor authentication turned on for your account",
    ("TWO_FACTOR_DISABLED", "fr"): "Double authentification désactivée sur votre compte",
    ("TWO_FACTOR_DISABLED", "en"): "Two-factor authentication turned off for your account",
    ("BACKUP_CODES_REGENERATED", "fr"): "Nouveaux codes de secours générés pour votre compte",
    ("BACKUP_CODES_REGENERATED", "en"): "New backup codes generated for your account",
    ("BACKUP_CODE_USED", "fr"): "Un code de secours a été utilisé sur votre compte",
    ("BACKUP_CODE_USED", "en"): "A backup code was used on your account",
    ("BACKUP_CODES_LOW", "fr"): "Vos codes de secours sont presque épuisés",
    ("BACKUP_CODES_LOW", "en"): "Your backup codes are running out",
}
PARAMS: dict[str, dict[str, object]] = {
    "BACKUP_CODE_USED": {"remaining": 3},
    "BACKUP_CODES_LOW": {"remaining": 1},
}
# T0 is 12:00 UTC: 13:00 in Paris (TIME_ZONE's default) in November.
WHEN = {"fr": "25/11/2026 à 13:00 (UTC+01:00)", "en": "25 November 2026 at 13:00 (UTC+01:00)"}
IF_NOT_YOU = {
    "fr": "Si vous n'êtes pas à l'origine de cette action, changez sans attendre le mot de passe",
    "en": "If this was not you, change your account's password right away",
}
THIRD_PARTY = {
    "fr": "contact de facturation vérifié du compte alice@example.com",
    "en": "verified billing contact of the account alice@example.com",
}
REMAINING = {
    ("BACKUP_CODE_USED", "fr"): "il vous reste 3 codes de secours",
    ("BACKUP_CODE_USED", "en"): "3 backup codes left",
    ("BACKUP_CODES_LOW", "fr"): "Il reste 1 code de secours non utilisé ",
    ("BACKUP_CODES_LOW", "en"): "Only 1 unused backup code left",
}


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    return make_settings(
        db_path,
        tmp_path / "var",
        mail_from=MAIL_FROM,
        support_email=SUPPORT,
        outbox_worker=False,
    )


async def sign_up(api: Api, locale: str = "fr", **extra: Any) -> tuple[Account, str]:
    token = await api.sign_up(
        "alice@example.com", billingContactEmail=BILLING, locale=locale.upper(), **extra
    )
    return await Account.get(email="alice@example.com"), token


async def verified(account: Account) -> Account:
    """As if the billing contact had opened its verification link (tested in
    test_billing_contact.py through the API)."""
    account.billing_contact_verified = True
    await account.save(update_fields=["billing_contact_verified"])
    return account


def parse(row: OutboxEmail) -> EmailMessage:
    message = email.message_from_string(row.message, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("kind", sorted({kind for kind, _ in SUBJECTS}))
async def test_each_kind_tells_the_account_and_its_verified_contact_what_when_and_from_where(
    api: Api, rt: Runtime, kind: str, locale: str
) -> None:
    account, token = await sign_up(api, locale)
    rows = await emails.enqueue(rt, await verified(account), kind, META, PARAMS.get(kind, {}))
    assert [row.recipient for row in rows] == ["alice@example.com", BILLING]

    for row in rows:
        message = parse(row)
        assert message.get_content_type() == "multipart/alternative"
        assert [part.get_content_type() for part in message.iter_parts()] == [
            "text/plain",
            "text/html",
        ]
        assert message["From"] == MAIL_FROM
        assert message["To"] == row.recipient
        assert message["Date"] == "Wed, 25 Nov 2026 12:00:00 +0000"
        assert message["Message-ID"] == row.message_id
        assert row.message_id.endswith("@verrou.example>")
        assert (row.created_at, row.next_attempt_at) == (T0, T0)
        assert (row.attempts, row.sent_at, row.failed_at) == (0, None, None)

        text, html = bodies(message)
        for body in (text, html.replace("&#39;", "'")):
            assert "203.0.113.7" in body
            assert WHEN[locale] in body
            assert "alice@example.com" in body
            assert SUPPORT in body
            if (kind, locale) in REMAINING:
                assert REMAINING[kind, locale] in body
            assert PASSWORD not in body
            assert token not in body
        assert PASSWORD not in row.message and token not in row.message

    holder, contact = (parse(row) for row in rows)
    assert holder["Subject"] == SUBJECTS[kind, locale] == rows[0].subject
    assert contact["Subject"] == f"{SUBJECTS[kind, locale]} (alice@example.com)"
    assert IF_NOT_YOU[locale] in bodies(holder)[0].replace("&#39;", "'")
    assert IF_NOT_YOU[locale] not in bodies(contact)[0]
    for body in bodies(contact):
        assert THIRD_PARTY[locale] in body.replace("&#39;", "'")


async def test_the_message_is_plain_ascii_for_smtp(api: Api, rt: Runtime) -> None:
    account, _ = await sign_up(api, "fr")
    (row,) = await emails.enqueue(rt, account, "TWO_FACTOR_DISABLED", META, {})
    assert row.message.isascii()
    assert parse(row)["Subject"] == "Double authentification désactivée sur votre compte"


async def test_an_unknown_ip_address_is_said_so(api: Api, rt: Runtime) -> None:
    account, _ = await sign_up(api, "fr")
    (row,) = await emails.enqueue(rt, account, "TWO_FACTOR_ENABLED", META, {})
    text, html = bodies(parse(row))
    assert "Adresse IP : 203.0.113.7" in text
    (row,) = await emails.enqueue(rt, account, "TWO_FACTOR_ENABLED", RequestMeta(), {})
    text, html = bodies(parse(row))
    assert "Adresse IP : inconnue" in text and "<td>inconnue</td>" in html


async def test_html_escapes_what_the_customer_typed(api: Api, rt: Runtime) -> None:
    account, _ = await sign_up(api, "en", companyName="<script>alert(1)</script>")
    (row,) = await emails.enqueue(rt, account, "TWO_FACTOR_ENABLED", META, {})
    text, html = bodies(parse(row))
    assert '("<script>alert(1)</script>")' in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html


async def test_params_cannot_replace_the_facts(api: Api, rt: Runtime) -> None:
    account, _ = await sign_up(api, "en")
    (row,) = await emails.enqueue(
        rt, account, "BACKUP_CODES_LOW", META, {"remaining": 2, "ip_address": "198.51.100.1"}
    )
    text, _ = bodies(parse(row))
    assert "IP address: 203.0.113.7" in text and "198.51.100.1" not in text


async def test_an_unknown_kind_or_a_missing_param_is_an_error(api: Api, rt: Runtime) -> None:
    account, _ = await sign_up(api, "fr")
    before = await OutboxEmail.all().count()  # the billing contact's verification
    with pytest.raises(jinja2.TemplateNotFound):
        await emails.enqueue(rt, account, "NO_SUCH_KIND", META, {})
    with pytest.raises(ValueError, match="not an email kind"):
        await emails.enqueue(rt, account, "../_footer", META, {})
    with pytest.raises(jinja2.UndefinedError):
        await emails.enqueue(rt, account, "BACKUP_CODES_LOW", META, {})
    assert await OutboxEmail.all().count() == before


async def test_message_ids_are_unique(api: Api, rt: Runtime) -> None:
    account, _ = await sign_up(api, "fr")
    rows = [
        (await emails.enqueue(rt, account, "TWO_FACTOR_ENABLED", META, {}))[0] for _ in range(5)
    ]
    assert len({row.message_id for row in rows}) == 5


async def test_enabling_two_factor_queues_an_email_without_the_secret_or_codes(api: Api) -> None:
    token = await api.sign_up("alice@example.com", billingContactEmail=BILLING, locale="EN")
    enabled = await api.enable_two_factor(token)

    rows = await OutboxEmail.filter(subject=SUBJECTS["TWO_FACTOR_ENABLED", "en"])
    assert len(rows) == 1
    text, html = bodies(parse(rows[0]))
    # The billing contact has not confirmed its address: the account email only.
    assert "203.0.113.7" in text and rows[0].recipient == "alice@example.com"
    for secret in [enabled.secret, PASSWORD, token, *enabled.backup_codes]:
        assert secret not in rows[0].message and secret not in text and secret not in html


@pytest.mark.parametrize(
    ("locale", "zone", "expected"),
    [
        ("fr", "Europe/Paris", "05/03/2027 à 10:07 (UTC+01:00)"),
        ("en", "Europe/Paris", "5 March 2027 at 10:07 (UTC+01:00)"),
        ("en", "UTC", "5 March 2027 at 09:07 (UTC+00:00)"),
        ("fr", "America/New_York", "05/03/2027 à 04:07 (UTC-05:00)"),
    ],
)
def test_dates_are_written_the_locale_s_way_in_the_time_zone_with_its_offset(
    locale: str, zone: str, expected: str
) -> None:
    at = datetime(2027, 3, 5, 10, 7, tzinfo=timezone(timedelta(hours=1)))
    assert emails.format_when(at, locale, zone) == expected
    assert emails.format_when(at.astimezone(UTC), locale, zone) == expected


def test_summer_time_shows_its_own_offset() -> None:
    at = datetime(2027, 7, 1, 12, 0, tzinfo=UTC)
    assert emails.format_when(at, "en", "Europe/Paris") == "1 July 2027 at 14:00 (UTC+02:00)"
