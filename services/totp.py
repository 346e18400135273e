"""TOTP (RFC 6238) and backup-code primitives; no database here."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp
from pyotp.exceptions import OTPVerificationError

DIGITS = 6
PERIOD = 30
ALGORITHM = "SHA1"
# Accept the step before and after the current one: clock drift and typing time.
VALID_WINDOW = 1
SECRET_LENGTH = 32  # base32 characters: 160 bits, the RFC 4226 recommendation

# Crockford's base32 alphabet: no i, l, o, u, so codes read aloud or copied are unambiguous.
BACKUP_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
BACKUP_CODE_LENGTH = 10  # 50 bits
_CROCKFORD_ALIASES = str.maketrans({"o": "0", "i": "1", "l": "1"})
_SEPARATORS = re.compile(r"[\s\-]+")
_TOTP_FORM = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    return pyotp.random_base32(length=SECRET_LENGTH)


def otpauth_uri(secret: str, issuer: str, account_name: str) -> str:
    """Key Uri Format, with every parameter spelled out (some apps ignore defaults)."""
    label = quote(f"{issuer}:{account_name}", safe="@:")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": ALGORITHM,
            "digits": DIGITS,
            "period": PERIOD,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def matching_step(secret: str, code: str, at: datetime, *, digits: int = DIGITS) -> int | None:
    """The time step whose code is `code`, within ±VALID_WINDOW of `at`; None if none."""
    # ASCII digits only: str.isdigit() (and pyotp's normalisation) would take other scripts.
    if not re.fullmatch(f"[0-9]{{{digits}}}", code):
        return None
    totp = pyotp.TOTP(secret, digits=digits, interval=PERIOD)
    try:
        return totp.verify_and_get_timecode(code, for_time=at, valid_window=VALID_WINDOW)
    except OTPVerificationError:
        return None


def code_at(secret: str, at: datetime, *, digits: int = DIGITS) -> str:
    return pyotp.TOTP(secret, digits=digits, interval=PERIOD).at(at)


def normalize_code(code: str) -> str:
    """Spaces, hyphens and case do not matter; Crockford look-alikes map to digits."""
    return _SEPARATORS.sub("", code).lower().translate(_CROCKFORD_ALIASES)


def looks_like_totp(normalized: str) -> bool:
    return _TOTP_FORM.fullmatch(normalized) is not None


def new_backup_codes(count: int) -> list[str]:
    """`count` distinct codes, formatted `xxxxx-xxxxx` for reading."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(BACKUP_ALPHABET) for _ in range(BACKUP_CODE_LENGTH)))
    half = BACKUP_CODE_LENGTH // 2
    return [f"{code[:half]}-{code[half:]}" for code in sorted(codes)]
