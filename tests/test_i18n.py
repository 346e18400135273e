"""Every text a person can see exists in both languages."""

from __future__ import annotations

import pytest

from schema.enums import ErrorCode
from services.i18n import LOCALES, MESSAGES, locale_from_accept_language, translate
from services.notifications import NotificationKind


@pytest.mark.parametrize("code", [code.value for code in ErrorCode])
def test_every_error_code_has_a_message_in_each_language(code: str) -> None:
    assert set(MESSAGES[code]) == set(LOCALES)


@pytest.mark.parametrize("kind", [kind.value for kind in NotificationKind])
def test_every_notification_kind_has_a_message_in_each_language(kind: str) -> None:
    for locale in LOCALES:
        # Every placeholder a message names is one of these (a new one needs a value here).
        params = {
            "remaining": 2,
            "count": 3,
            "device": "Firefox on Windows",
            "billing_contact": "compta@acme.example",
            "company_name": "Acme",
            "until": "2026-12-30",
            "name": "YubiKey 5C",
            "kind": "SECURITY_KEY",
        }
        assert translate(f"NOTIFICATION_{kind}", locale, params)


def test_messages_differ_by_language() -> None:
    assert translate("INVALID_CODE", "fr") != translate("INVALID_CODE", "en")


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "fr"),
        ("en", "en"),
        ("en-US,en;q=0.9,fr;q=0.8", "en"),
        ("de-DE,fr;q=0.5,en;q=0.4", "fr"),
        ("de, it;q=0.9", "fr"),
        ("fr;q=0.1, en;q=0.9", "en"),
        ("en;q=0", "fr"),
        ("en;q=garbage", "fr"),
    ],
)
def test_accept_language_picks_the_best_supported_language(header: str | None, locale: str) -> None:
    assert locale_from_accept_language(header) == locale
