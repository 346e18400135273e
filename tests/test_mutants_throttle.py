"""services/throttle.py line by line: the window's edges, what a refusal leaves behind, and the
subjects attempts are stored under (docs/mutation-testing.md)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models import FailedAttempt
from services import throttle
from services.errors import RateLimited
from services.runtime import Runtime
from tests.helpers import Api, with_connection_only

pytestmark = pytest.mark.usefixtures("api")  # the app's lifespan: its database is open


async def stored(subject: str) -> int:
    return await FailedAttempt.filter(subject=subject).count()


async def test_the_attempt_over_the_limit_is_refused_and_not_kept(rt: Runtime) -> None:
    for _ in range(3):
        await throttle.begin_attempt(rt, "s", limit=3)
    assert await stored("s") == 3
    before = rt.metrics.rate_limited
    with pytest.raises(RateLimited):
        await throttle.begin_attempt(rt, "s", limit=3)
    # A refused attempt leaves no row: otherwise a stranger's refused guesses would keep
    # the owner locked out for as long as they keep sending them.
    assert await stored("s") == 3
    assert rt.metrics.rate_limited == before + 1


async def test_refused_guesses_do_not_extend_the_lockout(rt: Runtime) -> None:
    for _ in range(2):
        await throttle.begin_attempt(rt, "s", limit=2, window_seconds=60)
    for _ in range(5):
        rt.clock.advance(10)
        with pytest.raises(RateLimited):
            await throttle.begin_attempt(rt, "s", limit=2, window_seconds=60)
    rt.clock.advance(11)  # 61 s after the two counted attempts
    await throttle.begin_attempt(rt, "s", limit=2, window_seconds=60)


async def test_the_limit_defaults_to_max_failures(rt: Runtime) -> None:
    for _ in range(rt.settings.max_failures):
        await throttle.begin_attempt(rt, "s")
    with pytest.raises(RateLimited):
        await throttle.begin_attempt(rt, "s")


async def test_retry_after_is_when_the_oldest_attempt_leaves_the_window(rt: Runtime) -> None:
    await throttle.begin_attempt(rt, "s", limit=2, window_seconds=100)
    rt.clock.advance(30)
    await throttle.begin_attempt(rt, "s", limit=2, window_seconds=100)
    rt.clock.advance(10)
    with pytest.raises(RateLimited) as refused:
        await throttle.begin_attempt(rt, "s", limit=2, window_seconds=100)
    assert refused.value.retry_after == 60


async def test_retry_after_ignores_attempts_already_out_of_the_window(rt: Runtime) -> None:
    await throttle.begin_attempt(rt, "s", limit=2, window_seconds=100)
    rt.clock.advance(150)  # that one is out of the window, but still stored
    await throttle.begin_attempt(rt, "s", limit=2, window_seconds=100)
    rt.clock.advance(10)
    await throttle.begin_attempt(rt, "s", limit=2, window_seconds=100)
    with pytest.raises(RateLimited) as refused:
        await throttle.begin_attempt(rt, "s", limit=2, window_seconds=100)
    assert await stored("s") == 3
    assert refused.value.retry_after == 90  # the oldest of the window is 10 s old


async def test_the_statements_asked_for_are_the_connections_dialect(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    for name in ("_count", "_delete"):
        written = getattr(throttle, name)

        def recording(dialect: str, written: Any = written) -> str:
            asked.append(dialect)
            return str(written(dialect))

        monkeypatch.setattr(throttle, name, recording)
    attempt = await throttle.begin_attempt(rt, "s")
    await attempt.succeeded()
    assert asked == [FailedAttempt._meta.db.capabilities.dialect] * 2
    assert await stored("s") == 0


async def test_retry_after_rounds_up_to_a_whole_second(rt: Runtime) -> None:
    await throttle.begin_attempt(rt, "s", limit=1, window_seconds=10)
    rt.clock.advance(8.5)
    with pytest.raises(RateLimited) as refused:
        await throttle.begin_attempt(rt, "s", limit=1, window_seconds=10)
    assert refused.value.retry_after == 2


async def test_retry_after_is_at_least_one_second(rt: Runtime) -> None:
    await throttle.begin_attempt(rt, "s", limit=1, window_seconds=10)
    rt.clock.advance(9.9)
    with pytest.raises(RateLimited) as refused:
        await throttle.begin_attempt(rt, "s", limit=1, window_seconds=10)
    assert refused.value.retry_after == 1


async def test_the_window_defaults_to_failure_window_seconds(rt: Runtime) -> None:
    window = rt.settings.failure_window_seconds
    await throttle.begin_attempt(rt, "s", limit=1)
    rt.clock.advance(window - 1)
    with pytest.raises(RateLimited) as refused:
        await throttle.begin_attempt(rt, "s", limit=1)
    assert refused.value.retry_after == 1
    rt.clock.advance(1)  # the first attempt is exactly `window` old: out of the window
    await throttle.begin_attempt(rt, "s", limit=1)


async def test_an_attempt_exactly_a_window_old_no_longer_counts(rt: Runtime) -> None:
    await throttle.begin_attempt(rt, "s", limit=1, window_seconds=60)
    rt.clock.advance(60)
    await throttle.begin_attempt(rt, "s", limit=1, window_seconds=60)
    assert await stored("s") == 2


async def test_subjects_are_counted_apart(rt: Runtime) -> None:
    await throttle.begin_attempt(rt, "a", limit=1)
    await throttle.begin_attempt(rt, "b", limit=1)
    with pytest.raises(RateLimited):
        await throttle.begin_attempt(rt, "a", limit=1)


async def test_a_succeeded_attempt_frees_its_place_and_only_its_own(rt: Runtime) -> None:
    first = await throttle.begin_attempt(rt, "s", limit=2)
    await throttle.begin_attempt(rt, "s", limit=2)
    other = await throttle.begin_attempt(rt, "t", limit=2)
    await first.succeeded()
    assert await stored("s") == 1
    assert await FailedAttempt.exists(id=other.row_id)
    await throttle.begin_attempt(rt, "s", limit=2)  # the freed place


async def test_quota_counts_uses_up_to_the_limit_and_not_the_refused_ones(rt: Runtime) -> None:
    assert [await throttle.take_quota(rt, "q", 2, 60) for _ in range(4)] == [
        True,
        True,
        False,
        False,
    ]
    assert await stored("q") == 2
    assert await throttle.take_quota(rt, "other", 2, 60)


async def test_quota_window_leaves_out_a_use_exactly_a_window_old(rt: Runtime) -> None:
    assert await throttle.take_quota(rt, "q", 1, 60)
    rt.clock.advance(59)
    assert not await throttle.take_quota(rt, "q", 1, 60)
    rt.clock.advance(1)
    assert await throttle.take_quota(rt, "q", 1, 60)


async def test_quota_uses_roll_back_with_the_callers_transaction(rt: Runtime) -> None:
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        async with in_transaction() as connection:
            assert await throttle.take_quota(rt, "q", 1, 60, connection)
            raise Rollback
    assert await stored("q") == 0
    assert await throttle.take_quota(rt, "q", 1, 60)


async def test_quota_uses_only_the_connection_it_is_given(rt: Runtime) -> None:
    # Its caller's transaction comes as an argument, not from the task: counted there, a
    # use over the limit deleted there, all of it gone with a rollback.
    class Rollback(Exception):
        pass

    outside = contextvars.copy_context()
    with pytest.raises(Rollback):
        async with in_transaction() as connection:
            quota = throttle.take_quota(rt, "q", 1, 60, connection)
            assert await with_connection_only(outside, quota)
            over = throttle.take_quota(rt, "q", 1, 60, connection)
            assert not await with_connection_only(outside, over)
            assert await FailedAttempt.filter(subject="q").using_db(connection).count() == 1
            raise Rollback
    assert await stored("q") == 0


def test_subjects_keep_the_form_of_the_rows_already_stored() -> None:
    # Attempts recorded before an upgrade must still count after it: the subjects are data.
    assert throttle.password_subject("alice@example.com") == "password:alice@example.com"
    assert throttle.second_factor_subject(7) == "second-factor:7"
    assert throttle.sign_up_subject("203.0.113.7") == "sign-up:203.0.113.7"
    assert throttle.mail_kind_subject("SIGN_IN", "alice@example.com") == (
        "mail:SIGN_IN:alice@example.com"
    )
    assert throttle.mail_account_subject(7) == "mail-account:7"


def test_requests_of_unknown_address_share_one_sign_up_subject() -> None:
    assert throttle.sign_up_subject(None) == throttle.sign_up_subject("") == "sign-up:?"


def test_mail_subjects_ignore_the_case_of_the_address() -> None:
    assert throttle.mail_kind_subject("K", "Alice@Example.COM") == throttle.mail_kind_subject(
        "K", "alice@example.com"
    )


async def test_a_wrong_password_is_counted_under_the_address_and_a_right_one_is_not(
    api: Api, rt: Runtime
) -> None:
    await api.sign_up("alice@example.com")
    assert (await api.sign_in("alice@example.com", "wrong password"))["session"] is None
    assert await stored(throttle.password_subject("alice@example.com")) == 1
    assert (await api.sign_in("alice@example.com"))["session"] is not None
    assert await stored(throttle.password_subject("alice@example.com")) == 1


async def test_of_a_burst_of_attempts_the_first_limit_go_through(rt: Runtime) -> None:
    """Each attempt counts those recorded before it, not later ones still in flight."""

    async def attempt() -> bool:
        try:
            await throttle.begin_attempt(rt, "s", limit=3)
        except RateLimited:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt() for _ in range(8)))
    assert outcomes.count(True) == 3
    assert await stored("s") == 3


async def test_of_a_burst_of_quota_uses_the_first_limit_are_counted(rt: Runtime) -> None:
    outcomes = await asyncio.gather(*(throttle.take_quota(rt, "q", 3, 60) for _ in range(8)))
    assert outcomes.count(True) == 3
    assert await stored("q") == 3


async def test_a_refusal_whose_counted_attempts_all_succeeded_meanwhile_waits_a_window(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race branch: between the count and the read of the oldest attempt, the other
    attempts succeeded (their rows deleted); the refusal then waits a whole window."""
    await throttle.begin_attempt(rt, "s", limit=1, window_seconds=60)
    read_oldest = QuerySet.first

    def others_succeed_first(self: QuerySet[FailedAttempt]) -> Any:
        async def read() -> FailedAttempt | None:
            await FailedAttempt.filter(subject="s").delete()
            return await read_oldest(self)

        return read()

    monkeypatch.setattr(QuerySet, "first", others_succeed_first)
    rt.clock.advance(10)
    with pytest.raises(RateLimited) as refused:
        await throttle.begin_attempt(rt, "s", limit=1, window_seconds=60)
    assert refused.value.retry_after == 60
