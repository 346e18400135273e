"""Secrets at rest, in logs, and the cost and placement of password hashing."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from pydantic import ValidationError

from models import Account
from services.crypto import DEV_KEY_FILE, KeyRing, KeyRingError, load_key_ring
from services.settings import Settings, SettingsError
from tests.conftest import make_settings
from tests.helpers import PASSWORD, Api, error_codes


async def test_nothing_secret_reaches_the_logs_of_a_whole_lifecycle(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, SQL statements of Tortoise included
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    challenge = await api.challenge()
    totp_code = api.code(enabled.secret)
    verified = await api.verify(challenge, totp_code)
    backup_challenge = await api.challenge()
    await api.verify(backup_challenge, enabled.backup_codes[0])
    await api.sign_in(password="a wrong password, also secret")

    secrets = [
        PASSWORD,
        "a wrong password, also secret",
        token,
        enabled.secret,
        totp_code,
        challenge,
        backup_challenge,
        verified["session"]["token"],
        *enabled.backup_codes,
        *(code.replace("-", "") for code in enabled.backup_codes),
    ]
    assert caplog.records, "the capture saw no log record at all: the check would be empty"
    logged = caplog.text
    for secret in secrets:
        assert secret not in logged


async def test_passwords_are_hashed_with_argon2id_at_least_owasp_minimum(api: Api) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    assert account.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in account.password_hash


def test_argon2_cost_is_configurable_but_not_below_owasp_minimum(tmp_path: Path) -> None:
    stronger = make_settings(tmp_path / "db", tmp_path, argon2_memory_kib=65536, argon2_time_cost=3)
    assert (stronger.argon2_memory_kib, stronger.argon2_time_cost) == (65536, 3)
    with pytest.raises(ValidationError):
        make_settings(tmp_path / "db", tmp_path, argon2_memory_kib=8192)
    with pytest.raises(ValidationError):
        make_settings(tmp_path / "db", tmp_path, argon2_time_cost=1)


async def test_password_hashing_runs_off_the_event_loop_thread(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []
    real_hash, real_verify = PasswordHasher.hash, PasswordHasher.verify

    def spy_hash(self: PasswordHasher, *args: object, **kwargs: object) -> str:
        threads.append(threading.get_ident())
        return real_hash(self, *args, **kwargs)  # type: ignore[arg-type]

    def spy_verify(self: PasswordHasher, *args: object, **kwargs: object) -> bool:
        threads.append(threading.get_ident())
        return real_verify(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(PasswordHasher, "hash", spy_hash)
    monkeypatch.setattr(PasswordHasher, "verify", spy_verify)
    await api.sign_up()
    await api.sign_in()
    await api.sign_in(email="nobody@example.com")
    assert len(threads) == 3
    assert loop_thread not in threads


async def test_hashing_leaves_the_event_loop_a_core(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent sign-ins hash on the app's own pool, never more at once than it has
    threads (cores - 1), so requests that do not hash keep a core."""
    await api.sign_up()
    running, peak, names = 0, 0, set()
    lock = threading.Lock()
    real_verify = PasswordHasher.verify

    def spy_verify(self: PasswordHasher, *args: object, **kwargs: object) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            names.add(threading.current_thread().name.split("_")[0])
        try:
            return real_verify(self, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(PasswordHasher, "verify", spy_verify)
    await asyncio.gather(*(api.sign_in() for _ in range(6)))
    assert names == {"argon2"}
    # cores - 1 at most, at least one.
    assert 1 <= peak <= max(1, (os.cpu_count() or 2) - 1)


async def test_an_unknown_email_still_verifies_a_hash(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def spy_verify(self: PasswordHasher, hash: str, password: str) -> bool:
        verified.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy_verify)
    payload = await api.sign_in(email="nobody@example.com")
    assert error_codes(payload) == ["INVALID_CREDENTIALS"]
    assert len(verified) == 1
    assert verified[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_development_generates_one_encryption_key_and_keeps_it(tmp_path: Path) -> None:
    first = load_key_ring("", tmp_path, development=True)
    second = load_key_ring("", tmp_path, development=True)
    assert first.keys == second.keys
    assert (tmp_path / DEV_KEY_FILE).stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeyRingError):
        load_key_ring("", tmp_path / "elsewhere", development=False)


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(KeyRingError) as raised:
        load_key_ring("not-a-key-at-all", Path("unused"), development=False)
    assert "not-a-key-at-all" not in str(raised.value)


def test_rotating_keys_keeps_old_secrets_and_backup_codes_readable() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    before = KeyRing((old,))
    token = before.encrypt(b"JBSWY3DPEHPK3PXP")
    digest = before.digests("abcde12345")[0]

    after = KeyRing((new, old))
    assert after.decrypt(token) == b"JBSWY3DPEHPK3PXP"
    assert digest in after.digests("abcde12345")
    rotated = after.rotate(token)
    assert KeyRing((new,)).decrypt(rotated) == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(KeyRingError):
        KeyRing((new,)).decrypt(token)


def test_production_refuses_to_start_on_development_defaults(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ENCRYPTION_KEYS"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        Settings(  # type: ignore[call-arg]
            _env_file=None, environment="production", encryption_keys=Fernet.generate_key().decode()
        )
    with pytest.raises(SettingsError, match="PUBLIC_URL"):
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="production",
            encryption_keys=Fernet.generate_key().decode(),
            database_url="postgres://db/verrou",
        )


async def test_a_refused_input_is_not_repeated_in_the_logs(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = await api.gql(
        'mutation { signIn(input: {email: "a@b.example", password: "hunter2-but-longer", '
        "nope: 1}) { errors { code } } }"
    )
    assert body["errors"]  # the client is told what was wrong with its own input
    assert caplog.records
    assert "hunter2-but-longer" not in caplog.text
