"""Regenerating backup codes, how they are stored, turning 2FA off, and the security history."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from models import BackupCode, SecurityEvent, TwoFactor
from services.totp import normalize_code
from tests.helpers import PASSWORD, Api, error_codes

EMAIL = "alice@example.com"
CLIENT_IP = "203.0.113.7"
CLIENT_USER_AGENT = "verrou-tests/1.0"
WINDOW = 15 * 60

STATUS_FIELDS = "enabled method enabledAt pendingSetup backupCodesRemaining backupCodesGeneratedAt"

REGENERATE = f"""
mutation Regenerate($input: RegenerateBackupCodesInput!) {{
  regenerateBackupCodes(input: $input) {{
    status {{ {STATUS_FIELDS} }}
    backupCodes
    errors {{ code field message retryAfter }}
  }}
}}
"""

DISABLE = f"""
mutation Disable($input: DisableTwoFactorInput!) {{
  disableTwoFactor(input: $input) {{
    status {{ {STATUS_FIELDS} }}
    errors {{ code field message retryAfter }}
  }}
}}
"""

SIGN_OUT = "mutation { signOut { errors { code } } }"

SECURITY_EVENTS = """
query { viewer { securityEvents(first: 100) {
  totalCount
  edges { node { kind ipAddress userAgent } }
} } }
"""


async def regenerate(api: Api, token: str, password: str = PASSWORD) -> dict[str, Any]:
    payload: dict[str, Any] = (
        await api.data(REGENERATE, {"input": {"password": password}}, token=token)
    )["regenerateBackupCodes"]
    return payload


async def disable(
    api: Api, token: str, *, password: str = PASSWORD, confirm: bool = True
) -> dict[str, Any]:
    payload: dict[str, Any] = (
        await api.data(DISABLE, {"input": {"password": password, "confirm": confirm}}, token=token)
    )["disableTwoFactor"]
    return payload


async def event_count(kind: str) -> int:
    return await SecurityEvent.filter(account__email=EMAIL, kind=kind).count()


def wrong_code(api: Api, secret: str) -> str:
    valid = {api.code(secret, steps) for steps in (-1, 0, 1)}
    return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in valid)


def database_bytes(db_path: Path) -> bytes:
    """The SQLite file and its write-ahead log, if any: everything written so far."""
    wal = db_path.with_name(db_path.name + "-wal")
    return db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


# ---------------------------------------------------------------- regenerateBackupCodes


async def test_regenerate_refuses_a_wrong_password(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)

    refused = await regenerate(api, token, password="not the password at all")

    assert error_codes(refused) == ["INVALID_CREDENTIALS"]
    assert refused["backupCodes"] is None
    assert await event_count("BACKUP_CODES_REGENERATED") == 0
    # The earlier codes still work.
    kept = await api.verify(await api.challenge(), enabled.backup_codes[0])
    assert error_codes(kept) == []


async def test_regenerate_without_two_factor(api: Api) -> None:
    token = await api.sign_up()

    refused = await regenerate(api, token)

    assert error_codes(refused) == ["TWO_FACTOR_NOT_ENABLED"]
    assert refused["backupCodes"] is None
    assert await BackupCode.filter(account__email=EMAIL).count() == 0


async def test_regenerate_replaces_every_earlier_code(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)

    regenerated = await regenerate(api, token)

    assert error_codes(regenerated) == []
    new_codes = regenerated["backupCodes"]
    assert len(new_codes) == 10
    assert len(set(new_codes)) == 10
    assert not set(new_codes) & set(enabled.backup_codes)
    assert regenerated["status"]["backupCodesRemaining"] == 10
    assert regenerated["status"]["enabled"] is True
    assert (await api.status(token))["backupCodesRemaining"] == 10
    assert await event_count("BACKUP_CODES_REGENERATED") == 1

    # Ten old codes are ten failures: two challenges of five guesses each.
    old_codes = enabled.backup_codes
    for chunk in (old_codes[:5], old_codes[5:]):
        challenge = await api.challenge()
        for old in chunk:
            refused = await api.verify(challenge, old)
            assert error_codes(refused) == ["INVALID_CODE"], old
            assert refused["session"] is None

    api.clock.advance(WINDOW)  # past the account's failure window
    accepted = await api.verify(await api.challenge(), new_codes[0])
    assert error_codes(accepted) == []
    assert accepted["usedBackupCode"] is True
    assert accepted["backupCodesRemaining"] == 9


async def concurrent_regenerations(api: Api, app: Starlette, count: int) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)

    results = await asyncio.gather(*(regenerate(api, token) for _ in range(count)))

    outcomes = Counter(",".join(error_codes(result)) or "ok" for result in results)
    successes = [result for result in results if result["backupCodes"] is not None]
    assert successes, outcomes
    assert set(outcomes) <= {"ok", "RATE_LIMITED"}, outcomes
    rows = await BackupCode.filter(account__email=EMAIL)
    assert len(rows) == 10
    assert len({row.batch_id for row in rows}) == 1
    # The codes that survive are the ones one of the answers showed.
    keys = app.state.runtime.keys
    stored = {row.digest for row in rows}
    shown = [
        {
            keys.account_digests(rows[0].account_id, normalize_code(code))[0]
            for code in result["backupCodes"]
        }
        for result in successes
    ]
    assert stored in shown


async def test_concurrent_regenerations_leave_one_batch(api: Api, app: Starlette) -> None:
    await concurrent_regenerations(api, app, 20)


async def test_ten_concurrent_regenerations_leave_one_batch(api: Api, app: Starlette) -> None:
    # Within the password failure limit: isolates the one-batch guarantee from throttling.
    await concurrent_regenerations(api, app, 10)


# ---------------------------------------------------------------- storage


@pytest.mark.sqlite_only
async def test_backup_codes_are_stored_as_keyed_digests(api: Api, db_path: Path) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    codes = enabled.backup_codes
    forms = {form for code in codes for form in (code, normalize_code(code), code.upper())}

    rows = await BackupCode.filter(account__email=EMAIL)
    assert len(rows) == 10
    for row in rows:
        assert re.fullmatch(r"[0-9a-f]{64}", row.digest), row.digest
        assert row.digest not in forms
        assert row.digest not in {hashlib.sha256(form.encode()).hexdigest() for form in forms}

    stored = await asyncio.to_thread(database_bytes, db_path)
    assert EMAIL.encode() in stored  # the bytes read do hold the account's data
    for form in forms:
        assert form.encode() not in stored, form


# ---------------------------------------------------------------- disableTwoFactor


async def test_disable_requires_confirmation(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)

    refused = await disable(api, token, confirm=False)

    assert error_codes(refused) == ["CONFIRMATION_REQUIRED"]
    assert refused["errors"][0]["field"] == ["input", "confirm"]
    assert refused["status"] is None
    assert (await api.status(token))["enabled"] is True
    assert await TwoFactor.filter(account__email=EMAIL).count() == 1


async def test_disable_refuses_a_wrong_password(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)

    refused = await disable(api, token, password="not the password at all", confirm=True)

    assert error_codes(refused) == ["INVALID_CREDENTIALS"]
    assert (await api.status(token))["enabled"] is True
    assert await BackupCode.filter(account__email=EMAIL).count() == 10
    assert await event_count("TWO_FACTOR_DISABLED") == 0


async def test_disable_without_two_factor(api: Api) -> None:
    token = await api.sign_up()

    refused = await disable(api, token)

    assert error_codes(refused) == ["TWO_FACTOR_NOT_ENABLED"]
    assert refused["status"] is None


async def test_disable_removes_the_device_and_backup_codes(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    assert await TwoFactor.filter(account__email=EMAIL).count() == 1
    assert await BackupCode.filter(account__email=EMAIL).count() == 10

    disabled = await disable(api, token)

    assert error_codes(disabled) == []
    status = disabled["status"]
    assert status["enabled"] is False
    assert status["method"] is None
    assert status["backupCodesRemaining"] == 0
    assert status["enabledAt"] is None
    assert await TwoFactor.filter(account__email=EMAIL).count() == 0
    assert await BackupCode.filter(account__email=EMAIL).count() == 0
    assert await event_count("TWO_FACTOR_DISABLED") == 1

    signed_in = await api.sign_in()
    assert error_codes(signed_in) == []
    assert signed_in["challenge"] is None
    assert signed_in["session"]["account"]["email"] == EMAIL

    # A fresh setup: a new secret, and new backup codes once confirmed.
    again = await api.start(token)
    assert error_codes(again) == []
    assert again["setup"]["secret"] != enabled.secret
    assert (await api.status(token))["pendingSetup"] is True
    api.clock.advance(30)
    confirmed = await api.confirm(token, api.code(again["setup"]["secret"]))
    assert error_codes(confirmed) == []
    assert confirmed["status"]["enabled"] is True
    assert len(confirmed["backupCodes"]) == 10
    assert not set(confirmed["backupCodes"]) & set(enabled.backup_codes)


async def test_disable_closes_open_challenges(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    challenge = await api.challenge()

    assert error_codes(await disable(api, token)) == []

    late = await api.verify(challenge, api.code(enabled.secret))
    assert error_codes(late) == ["CHALLENGE_EXPIRED"]
    assert late["session"] is None


# ---------------------------------------------------------------- security events


async def test_security_events_record_the_client_address_and_user_agent(api: Api) -> None:
    token = await api.sign_up()  # SIGNED_IN
    assert error_codes(await api.sign_in(password="not the password at all")) == [
        "INVALID_CREDENTIALS"
    ]  # SIGN_IN_FAILED
    enabled = await api.enable_two_factor(token)  # TWO_FACTOR_SETUP_STARTED, TWO_FACTOR_ENABLED
    challenge = await api.challenge()
    assert error_codes(await api.verify(challenge, wrong_code(api, enabled.secret))) == [
        "INVALID_CODE"
    ]  # SECOND_FACTOR_FAILED
    verified = await api.verify(challenge, enabled.backup_codes[0])  # BACKUP_CODE_USED, SIGNED_IN
    assert error_codes(verified) == []
    assert error_codes(await regenerate(api, token)) == []  # BACKUP_CODES_REGENERATED
    signed_out = await api.data(SIGN_OUT, token=verified["session"]["token"])  # SIGNED_OUT
    assert signed_out["signOut"]["errors"] == []
    assert error_codes(await disable(api, token)) == []  # TWO_FACTOR_DISABLED

    rows = await SecurityEvent.filter(account__email=EMAIL)
    assert {row.kind for row in rows} == {
        "SIGNED_IN",
        "SIGN_IN_FAILED",
        "TWO_FACTOR_SETUP_STARTED",
        "TWO_FACTOR_ENABLED",
        "SECOND_FACTOR_FAILED",
        "BACKUP_CODE_USED",
        "BACKUP_CODES_REGENERATED",
        "SIGNED_OUT",
        "TWO_FACTOR_DISABLED",
    }
    for row in rows:
        assert (row.kind, row.ip_address, row.user_agent) == (
            row.kind,
            CLIENT_IP,
            CLIENT_USER_AGENT,
        )

    history = (await api.data(SECURITY_EVENTS, token=token))["viewer"]["securityEvents"]
    assert history["totalCount"] == len(rows)
    assert len(history["edges"]) == len(rows)
    for edge in history["edges"]:
        assert edge["node"]["ipAddress"] == CLIENT_IP, edge
        assert edge["node"]["userAgent"] == CLIENT_USER_AGENT, edge
