"""services/hashing_pool.py: argon2's threads take the checks waiting, a few at a time, and
hand their results back together; a lone check is answered at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future

import pytest

from services.hashing_pool import BATCH, HashingPool


@pytest.fixture
def pool() -> Iterator[HashingPool]:
    pool = HashingPool(1, "argon2")
    yield pool
    pool.shutdown(wait=True)


class Held:
    """A check that runs until released, so that others queue behind it."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.released = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        assert self.released.wait(5)
        return "held"


def recorder(ran: list[int]) -> Callable[[int], int]:
    def check(number: int) -> int:
        ran.append(number)
        return number

    return check


def ran_before_answer(future: Future[int], ran: list[int], seen: dict[int, int]) -> None:
    """On completion, how many checks had run: a batch answers once all of it ran."""
    future.add_done_callback(lambda done: seen.__setitem__(done.result(), len(ran)))


def test_a_lone_check_is_answered_when_it_is_done(pool: HashingPool) -> None:
    ran: list[int] = []
    assert pool.submit(recorder(ran), 7).result(timeout=5) == 7
    assert pool.submit(recorder(ran), 8).result(timeout=5) == 8
    assert ran == [7, 8]


def test_checks_waiting_together_are_answered_together(pool: HashingPool) -> None:
    held, ran, seen = Held(), [], {}
    first = pool.submit(held)
    assert held.started.wait(5)
    waiting = [pool.submit(recorder(ran), number) for number in range(1, BATCH + 3)]
    for future in waiting:
        ran_before_answer(future, ran, seen)
    held.released.set()
    assert first.result(timeout=5) == "held"
    assert [future.result(timeout=5) for future in waiting] == list(range(1, BATCH + 3))
    assert ran == list(range(1, BATCH + 3))  # in the order they came
    # The first BATCH were answered once all of them had run, then the last two together.
    assert seen == {n: BATCH if n <= BATCH else BATCH + 2 for n in range(1, BATCH + 3)}


def test_a_failing_check_fails_alone(pool: HashingPool) -> None:
    held = Held()
    pool.submit(held)
    assert held.started.wait(5)

    def fails() -> None:
        raise ValueError("bad hash")

    before = pool.submit(lambda: "before")
    failing = pool.submit(fails)
    after = pool.submit(lambda: "after")
    held.released.set()
    with pytest.raises(ValueError, match="bad hash"):
        failing.result(timeout=5)
    assert (before.result(timeout=5), after.result(timeout=5)) == ("before", "after")


def test_a_cancelled_check_does_not_run(pool: HashingPool) -> None:
    held, ran = Held(), []
    pool.submit(held)
    assert held.started.wait(5)
    cancelled = pool.submit(recorder(ran), 1)
    kept = pool.submit(recorder(ran), 2)
    assert cancelled.cancel()
    held.released.set()
    assert kept.result(timeout=5) == 2
    assert ran == [2]
    with pytest.raises(CancelledError):
        cancelled.result(timeout=5)


def test_shutdown_runs_what_was_submitted_then_refuses() -> None:
    pool = HashingPool(2, "argon2")
    held, ran = Held(), []
    pool.submit(held)
    assert held.started.wait(5)
    futures = [pool.submit(recorder(ran), number) for number in range(10)]
    stopping = threading.Thread(target=pool.shutdown)
    stopping.start()
    held.released.set()
    stopping.join(5)
    assert not stopping.is_alive()
    assert all(future.done() for future in futures)
    assert sorted(ran) == list(range(10))
    assert not any(thread.is_alive() for thread in pool._threads)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(recorder(ran), 11)


def test_threads_are_named_and_run_the_initializer_first() -> None:
    names: list[str] = []
    pool = HashingPool(2, "argon2", initializer=lambda: names.append("init"))
    try:
        seen = {pool.submit(lambda: threading.current_thread().name).result(timeout=5)}
    finally:
        pool.shutdown(wait=True)
    assert names == ["init", "init"]
    assert seen <= {"argon2_0", "argon2_1"}


def test_with_a_thread_free_checks_run_side_by_side() -> None:
    """Where there are threads for several checks at once (several cores), a thread takes
    one check while another thread waits for work: both run at the same time."""
    pool, first, second = HashingPool(2, "argon2"), Held(), Held()
    try:
        deadline = time.monotonic() + 5
        while pool._idle < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        futures = [pool.submit(first), pool.submit(second)]
        assert first.started.wait(5)
        assert second.started.wait(5)  # not queued behind the first
        first.released.set()
        second.released.set()
        assert [future.result(timeout=5) for future in futures] == ["held", "held"]
    finally:
        first.released.set()
        second.released.set()
        pool.shutdown(wait=True)
