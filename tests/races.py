"""Race scenarios: many requests at once through one app, each asserting that the
single-use guards hold. tests/test_races.py runs them on the suite's database (SQLite, or
PostgreSQL in make test's PostgreSQL pass); tests/test_postgres_races.py on a PostgreSQL
database of its own, in the `postgres` pass."""

from __future__ import annotations

import asyncio

from models import BackupCode, SignInChallenge
from services.crypto import KeyRing
from services.totp import normalize_code
from tests.helpers import PASSWORD, Api, error_codes
from tests.key_client import Keys
from tests.soft_authenticator import SoftAuthenticator

REGENERATE = """
mutation R($input: RegenerateBackupCodesInput!) {
  regenerateBackupCodes(input: $input) { backupCodes errors { code } }
}
"""


async def one_backup_code_used_at_once(api: Api, times: int = 20) -> None:
    """`times` sign-ins with one backup code: exactly one session, one code spent."""
    enabled = await api.enable_two_factor(await api.sign_up())
    challenges = [await api.challenge() for _ in range(times)]
    code = enabled.backup_codes[0]
    results = await asyncio.gather(*(api.verify(challenge, code) for challenge in challenges))
    assert sum(result["session"] is not None for result in results) == 1
    refused = [error_codes(result) for result in results if result["session"] is None]
    # The per-account guess limit may answer some before they reach the code.
    assert all(codes in (["INVALID_CODE"], ["RATE_LIMITED"]) for codes in refused), refused
    assert await BackupCode.filter(used_at__isnull=False).count() == 1


async def one_totp_code_used_at_once(api: Api, times: int = 8) -> None:
    """`times` sign-ins with one TOTP code: one session, the rest CODE_ALREADY_USED."""
    enabled = await api.enable_two_factor(await api.sign_up())
    challenges = [await api.challenge() for _ in range(times)]
    code = api.code(enabled.secret)
    results = await asyncio.gather(*(api.verify(challenge, code) for challenge in challenges))
    assert sum(result["session"] is not None for result in results) == 1
    refused = [error_codes(result) for result in results if result["session"] is None]
    assert all(codes == ["CODE_ALREADY_USED"] for codes in refused), refused


async def one_confirmation_code_used_at_once(api: Api, times: int = 20) -> None:
    """`times` confirmTwoFactor with one code: one success, one batch of backup codes."""
    token = await api.sign_up()
    secret = (await api.start(token))["setup"]["secret"]
    code = api.code(secret)
    results = await asyncio.gather(*(api.confirm(token, code) for _ in range(times)))
    assert sum(result["errors"] == [] for result in results) == 1
    refused = [error_codes(result) for result in results if result["errors"]]
    allowed = (["TWO_FACTOR_ALREADY_ENABLED"], ["RATE_LIMITED"])
    assert all(codes in allowed for codes in refused), refused
    assert (await api.status(token))["enabled"] is True
    assert await BackupCode.all().count() == 10


async def regenerations_at_once(api: Api, keys: KeyRing, times: int = 20) -> None:
    """`times` regenerateBackupCodes: one batch of ten survives, one that an answer gave."""
    token = await api.sign_up()
    await api.enable_two_factor(token)
    results = await asyncio.gather(
        *(
            api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
            for _ in range(times)
        )
    )
    answered = [
        r["regenerateBackupCodes"] for r in results if not r["regenerateBackupCodes"]["errors"]
    ]
    assert answered, "no regeneration went through"
    rows = await BackupCode.all()
    assert len(rows) == 10
    assert len({row.batch_id for row in rows}) == 1
    surviving = {row.digest for row in rows}
    account_id = rows[0].account_id
    handed_out = [
        {keys.account_digests(account_id, normalize_code(c))[0] for c in a["backupCodes"]}
        for a in answered
    ]
    assert surviving in handed_out
    # The codes of that batch are the ones that work.
    assert (await api.status(token))["backupCodesRemaining"] == 10


async def one_key_answer_used_at_once(api: Api, times: int = 20) -> None:
    """`times` uses of one security key answer at its challenge at once: one session. The
    rest meet a spent or capped challenge, or the per-account limit."""
    keys = Keys(api)
    token = await api.sign_up()
    key = SoftAuthenticator()
    await keys.register(token, key)
    challenge = await keys.challenge("alice@example.com")
    answer = key.get(challenge["securityKeyOptions"], keys.origin)
    results = await asyncio.gather(*(keys.verify(challenge["token"], answer) for _ in range(times)))
    assert sum(result["session"] is not None for result in results) == 1
    refused = {
        code for result in results if result["session"] is None for code in error_codes(result)
    }
    assert refused <= {"CHALLENGE_EXPIRED", "RATE_LIMITED", "SECURITY_KEY_REJECTED"}, refused
    assert await SignInChallenge.filter(used_at__isnull=False).count() == 1


async def one_passkey_answer_used_at_once(api: Api, times: int = 20) -> None:
    """`times` passwordless sign-ins with one passkey answer at once: one session."""
    keys = Keys(api)
    token = await api.sign_up()
    phone = SoftAuthenticator()
    await keys.register(token, phone, "Phone", passkey=True)
    started = await keys.start_passkey()
    answer = phone.get(started["options"], keys.origin)
    results = await asyncio.gather(
        *(keys.finish_passkey(started["token"], answer) for _ in range(times))
    )
    assert sum(result["session"] is not None for result in results) == 1
    refused = {
        code for result in results if result["session"] is None for code in error_codes(result)
    }
    assert refused <= {"SECURITY_KEY_REJECTED", "RATE_LIMITED"}, refused
