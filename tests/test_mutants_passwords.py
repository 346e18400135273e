"""services/passwords.py line by line: the hash's cost, the length cap, unknown accounts
costing one argon2 run like a wrong password, and where the hashing runs
(docs/mutation-testing.md)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError

from services import passwords
from services.passwords import Passwords
from services.settings import Settings
from services.validation import PASSWORD_MAX

PASSWORD = "correct horse battery staple"


@pytest.fixture
def hasher(settings: Settings) -> Passwords:
    return Passwords(settings)


@pytest.fixture
def argon2_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every argon2 hash ("hash", password) and check ("verify", password), and the thread
    it ran on (the name)."""
    runs: list[tuple[str, str]] = []
    original_hash, original_verify = PasswordHasher.hash, PasswordHasher.verify

    def hash_(self: PasswordHasher, password: str, **kwargs: Any) -> str:
        runs.append(("hash", threading.current_thread().name))
        return original_hash(self, password, **kwargs)

    def verify(self: PasswordHasher, password_hash: str, password: str) -> bool:
        runs.append(("verify", threading.current_thread().name))
        return original_verify(self, password_hash, password)

    monkeypatch.setattr(PasswordHasher, "hash", hash_)
    monkeypatch.setattr(PasswordHasher, "verify", verify)
    yield runs


@pytest.mark.parametrize(("cores", "threads"), [(None, 1), (1, 1), (2, 1), (8, 7)])
def test_hashing_leaves_the_event_loop_a_core(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, threads: int
) -> None:
    monkeypatch.setattr(passwords.os, "cpu_count", lambda: cores)
    assert passwords.hashing_threads() == threads


async def test_the_hash_carries_the_configured_argon2id_cost(settings: Settings) -> None:
    tuned = settings.model_copy(
        update={"argon2_time_cost": 3, "argon2_memory_kib": 20000, "argon2_parallelism": 2}
    )
    password_hash = await Passwords(tuned).hash(PASSWORD)
    assert password_hash.startswith("$argon2id$v=19$m=20000,t=3,p=2$")


async def test_a_password_matches_its_hash_only(hasher: Passwords) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert await hasher.verify(password_hash, PASSWORD) is True
    assert await hasher.verify(password_hash, PASSWORD + "!") is False


async def test_a_hash_argon2_cannot_read_is_a_wrong_password(hasher: Passwords) -> None:
    with pytest.raises(InvalidHashError):
        PasswordHasher().verify("not a hash", PASSWORD)
    assert await hasher.verify("not a hash", PASSWORD) is False


async def test_the_longest_password_allowed_is_checked(hasher: Passwords) -> None:
    longest = "x" * PASSWORD_MAX
    password_hash = await hasher.hash(longest)
    assert await hasher.verify(password_hash, longest) is True


async def test_a_longer_password_is_wrong_and_costs_one_argon2_check(
    hasher: Passwords, argon2_runs: list[tuple[str, str]]
) -> None:
    too_long = "x" * (PASSWORD_MAX + 1)
    password_hash = await hasher.hash(too_long)
    await hasher.warm_up()
    argon2_runs.clear()
    assert await hasher.verify(password_hash, too_long) is False
    assert [kind for kind, _ in argon2_runs] == ["verify"]


async def test_no_hash_is_a_wrong_password_that_costs_one_argon2_check(
    hasher: Passwords, argon2_runs: list[tuple[str, str]]
) -> None:
    await hasher.warm_up()
    argon2_runs.clear()
    assert await hasher.verify(None, PASSWORD) is False
    assert await hasher.verify(None, "") is False
    assert [kind for kind, _ in argon2_runs] == ["verify", "verify"]


async def test_the_dummy_hash_is_made_once(
    hasher: Passwords, argon2_runs: list[tuple[str, str]]
) -> None:
    await hasher.warm_up()
    await hasher.warm_up()
    await hasher.verify(None, PASSWORD)
    assert [kind for kind, _ in argon2_runs] == ["hash", "verify"]


async def test_the_dummy_hash_is_a_real_argon2_hash_of_a_random_password(
    hasher: Passwords, settings: Settings
) -> None:
    await hasher.warm_up()
    other = Passwords(settings)
    await other.warm_up()
    assert hasher._dummy_hash is not None and other._dummy_hash is not None
    assert hasher._dummy_hash.startswith("$argon2id$")
    assert hasher._dummy_hash != other._dummy_hash
    # An empty password never matches it (what a too-long password is checked as).
    assert await hasher.verify(hasher._dummy_hash, "") is False


async def test_while_serving_argon2_runs_on_its_own_pool(
    hasher: Passwords, argon2_runs: list[tuple[str, str]]
) -> None:
    async with hasher.serving():
        password_hash = await hasher.hash(PASSWORD)
        assert await hasher.verify(password_hash, PASSWORD)
    assert [kind for kind, _ in argon2_runs] == ["hash", "verify"]
    assert all(name.startswith("argon2_") for _, name in argon2_runs), argon2_runs
    assert hasher._pool is None


async def test_outside_serving_argon2_runs_off_the_event_loop(
    hasher: Passwords, argon2_runs: list[tuple[str, str]]
) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert await hasher.verify(password_hash, PASSWORD)
    names = [name for _, name in argon2_runs]
    assert len(names) == 2
    assert threading.main_thread().name not in names
    assert not any(name.startswith("argon2_") for name in names)


async def test_serving_waits_for_the_hashes_in_flight(hasher: Passwords) -> None:
    async with hasher.serving():
        pool = hasher._pool
        assert pool is not None
        future = pool.submit(hasher._hasher.hash, PASSWORD)
    assert future.done()
