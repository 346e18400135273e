"""Checks on what people type: email addresses, new passwords and free text.

Every refusal is an `InvalidInput` naming the field by its domain name ("email",
"billing_contact_email"), so a client can put the message next to the right box.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path

from services.errors import InvalidInput

EMAIL_MAX = 254  # RFC 5321's limit on a forward path, less the angle brackets
EMAIL_LOCAL_MAX = 64
DOMAIN_LABEL_MAX = 63
PASSWORD_MIN = 12
# Also the cap at sign-in and on every password re-check: nobody gets to make argon2 hash
# megabytes, but a longer password there is simply wrong, never an error of its own.
PASSWORD_MAX = 256
COMPANY_MAX = 200
MESSAGE_MAX = 2000  # a recovery request's message, support's note on it
KEY_NAME_MAX = 64  # a security key's name (services.authenticators)
DEVICE_LABEL_MAX = 100  # "Firefox on Windows", from a user agent: shown in emails, capped

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"
# Characters a plain (unquoted) local part may not hold; quoted local parts are refused
# outright: nobody signs up with one, and they are a classic parser-confusion vector.
_LOCAL_FORBIDDEN = frozenset('()<>[]\\,;:"@')
_LINE_BREAKS = "\n\r\t"


def normalize_email(email: str) -> str:
    """The stored form of an email: trimmed and case-folded (the unique index is on it)."""
    return email.strip().casefold()


def email(value: str, field: str) -> str:
    """The normalised address, or INVALID_EMAIL on field."""
    address = normalize_email(value)
    local, at, domain = address.rpartition("@")
    if (
        len(address) > EMAIL_MAX
        or not at
        or "@" in local
        or not _valid_local_part(local)
        or not _valid_domain(domain)
    ):
        raise InvalidInput("INVALID_EMAIL", field=field)
    return address


def _valid_local_part(local: str) -> bool:
    return (
        0 < len(local) <= EMAIL_LOCAL_MAX
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
        and all(c.isprintable() and not c.isspace() and c not in _LOCAL_FORBIDDEN for c in local)
    )


def _valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    # A dot is required: "user@localhost" reaches no customer's billing contact.
    if len(labels) < 2 or labels[-1].isdigit():
        return False
    return all(
        0 < len(label) <= DOMAIN_LABEL_MAX
        and not label.startswith("-")
        and not label.endswith("-")
        # isalnum() admits internationalised domain names as people type them.
        and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    )


def new_password(password: str, field: str) -> None:
    """A password being set: 12 to 256 characters and not on the common-passwords list."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(
            "PASSWORD_LENGTH", field=field, params={"min": PASSWORD_MIN, "max": PASSWORD_MAX}
        )
    if is_common_password(password):
        raise InvalidInput("PASSWORD_TOO_COMMON", field=field)


def is_common_password(password: str) -> bool:
    return password.strip().casefold() in _common_passwords()


@cache
def _common_passwords() -> frozenset[str]:
    # Read on first use, once per process: 40,000 lines, about 3 MB as a set.
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as lines:
        return frozenset(line.strip().casefold() for line in lines if line.strip())


def optional_text(
    value: str | None, field: str, maximum: int, *, multiline: bool = False
) -> str | None:
    """Trimmed text, None when blank; TEXT_TOO_LONG past maximum characters, and
    TEXT_INVALID_CHARACTERS for control characters (line breaks and tabs only if multiline).
    PostgreSQL refuses NUL in text outright, so letting one through is a crash, not a typo."""
    text = (value or "").strip()
    if len(text) > maximum:
        raise InvalidInput("TEXT_TOO_LONG", field=field, params={"max": maximum})
    allowed = _LINE_BREAKS if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise InvalidInput("TEXT_INVALID_CHARACTERS", field=field)
    return text or None


def required_text(value: str, field: str, maximum: int) -> str:
    """optional_text that must not be blank (TEXT_REQUIRED)."""
    text = optional_text(value, field, maximum)
    if text is None:
        raise InvalidInput("TEXT_REQUIRED", field=field)
    return text


def printable(text: str) -> str:
    """text with each non-printable character replaced by U+FFFD: for values only looked up
    (a sign-in's email), which no stored value can match and the database must accept."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def looked_up_email(email: str) -> str:
    """An email as sent, made small and storable for a lookup and a throttle's subject
    (sign-in, password reset): normalized, cut one character past the longest email (so a
    longer one stays unknown, and longer ones with those characters share a subject),
    control characters replaced (no stored email has one, PostgreSQL refuses a NUL)."""
    return printable(normalize_email(email)[: EMAIL_MAX + 1])
