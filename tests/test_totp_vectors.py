"""services.totp against RFC 6238 Appendix B, and the backup-code primitives."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from services import totp

# RFC 6238 Appendix B, SHA1: the seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode("ascii")
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_code_at_matches_rfc_6238_vector(unix: int, expected: str) -> None:
    assert totp.code_at(RFC_SECRET, at(unix), digits=8) == expected


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_matching_step_finds_the_rfc_6238_step(unix: int, expected: str) -> None:
    assert totp.matching_step(RFC_SECRET, expected, at(unix), digits=8) == unix // 30


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_matching_step_refuses_a_wrong_code(unix: int, expected: str) -> None:
    wrong = expected[:-1] + str((int(expected[-1]) + 1) % 10)
    assert totp.matching_step(RFC_SECRET, wrong, at(unix), digits=8) is None


@pytest.mark.parametrize("code", ["9428708a", "9428 708", "-4287082", "", "        "])
def test_matching_step_refuses_a_non_digit_code(code: str) -> None:
    assert totp.matching_step(RFC_SECRET, code, at(59), digits=8) is None


@pytest.mark.parametrize("code", ["4287082", "094287082", "287082"])
def test_matching_step_refuses_a_code_of_the_wrong_length(code: str) -> None:
    # "287082" is the right 6-digit code at t=59, but 8 digits are asked for.
    assert totp.matching_step(RFC_SECRET, code, at(59), digits=8) is None


def test_default_is_six_digits_the_low_digits_of_the_rfc_code() -> None:
    # RFC 4226 truncation: the 6-digit code is the 8-digit one modulo 10**6.
    assert totp.code_at(RFC_SECRET, at(59)) == "287082"
    assert totp.matching_step(RFC_SECRET, "287082", at(59)) == 1
    assert totp.matching_step(RFC_SECRET, "94287082", at(59)) is None


def test_matching_step_accepts_one_step_either_side_only() -> None:
    now = at(1234567890)
    step = 1234567890 // 30
    for offset in (-1, 0, 1):
        code = totp.code_at(RFC_SECRET, now + timedelta(seconds=30 * offset), digits=8)
        assert totp.matching_step(RFC_SECRET, code, now, digits=8) == step + offset
    for offset in (-2, 2):
        code = totp.code_at(RFC_SECRET, now + timedelta(seconds=30 * offset), digits=8)
        assert totp.matching_step(RFC_SECRET, code, now, digits=8) is None


def test_new_secret_is_base32_of_160_bits_and_random() -> None:
    secrets = {totp.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) >= 20


# ---------------------------------------------------------------- normalize_code


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        (" ABCDE-fghjk ", "abcdefghjk"),
        ("o", "0"),
        ("O", "0"),
        ("i", "1"),
        ("I", "1"),
        ("l", "1"),
        ("L", "1"),
        ("123 456", "123456"),
        ("12-34\t56\n", "123456"),
        ("abcde--fghjk", "abcdefghjk"),
    ],
)
def test_normalize_code(raw: str, normalized: str) -> None:
    assert totp.normalize_code(raw) == normalized


def test_normalize_code_maps_a_misread_backup_code_to_the_printed_one() -> None:
    for code in totp.new_backup_codes(10):
        misread = code.upper().replace("0", "O").replace("1", "l").replace("-", " - ")
        assert totp.normalize_code(misread) == totp.normalize_code(code)


# ---------------------------------------------------------------- new_backup_codes


def test_new_backup_codes_are_distinct_and_formatted() -> None:
    codes = totp.new_backup_codes(10)

    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert len(code) == 11
        assert code[5] == "-"
        body = code[:5] + code[6:]
        assert set(body) <= set(totp.BACKUP_ALPHABET)
        # Crockford's alphabet: no letter that reads like a digit (or u).
        assert not set(body) & set("ilou")
        assert totp.normalize_code(code) == body


def test_backup_alphabet_is_crockford_base32() -> None:
    assert totp.BACKUP_ALPHABET == "0123456789abcdefghjkmnpqrstvwxyz"
    assert len(set(totp.BACKUP_ALPHABET)) == 32


def test_new_backup_codes_are_random() -> None:
    batches = [totp.new_backup_codes(10) for _ in range(5)]
    all_codes = [code for batch in batches for code in batch]
    assert len(set(all_codes)) == 50
    # Every character of the alphabet turns up across 500 random characters.
    seen = {char for code in all_codes for char in code.replace("-", "")}
    assert len(seen) >= 30


def test_new_backup_codes_honours_the_count() -> None:
    assert len(set(totp.new_backup_codes(25))) == 25
    assert totp.new_backup_codes(0) == []
