"""The threads that run argon2 while the app serves: a pool whose threads take the checks
waiting, a few at a time, and hand their results back together.

Why together: argon2 sweeps 19 MiB or more for each check, which leaves the core's caches
cold for whatever runs next. Handed back one by one, every sign-in's own work (its second
trip to the database, its response, the next request on its connection, that request's
first trip) runs alone between two hashes, from cold caches, and interrupts argon2 at
each step. Handed back together, the sign-ins of a batch do that work one after the other,
all but the first on a warm core. A thread takes only what is already waiting, and more
than one check only while the pool's other threads are busy, so a lone sign-in is answered
as soon as its check is done, and checks that other cores could run in parallel are not
queued behind each other. Under load, a sign-in may wait for the checks taken with it
(BATCH - 1 at most): a few hashes beside the queue it waited in.
bench/status.py measures what it saves ("argon2's share of the server's CPU").
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

# At most this many checks a thread takes at once. Measured (bench/README.md, 2026-12-02):
# argon2's share of a sign-in's CPU 90.8% one by one, 92.5% by 2, 93.3% by 3 and by 4 on a
# slow machine (where by 4 the status p99 under sign-ins once reached 28 ms). With the
# sign-ins' trips committed together (services/batches.py), on a fast machine: 91.5-91.8%
# by 3, 92.8% by 4, 93.3-93.7% by 5, with the status p99 under sign-ins at 4.0-4.7 ms.
BATCH = 5

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class HashingPool(Executor):
    """`threads` threads named `{name}_0`, `{name}_1`..., each running `initializer` first."""

    def __init__(
        self,
        threads: int,
        name: str,
        initializer: Callable[[], None] | None = None,
        batch: int = BATCH,
    ) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._batch = batch
        self._initializer = initializer
        self._lock = threading.Lock()
        self._closed = False
        self._idle = 0  # threads waiting for a check
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{number}", daemon=True)
            for number in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: Future[Any] = Future()
            self._jobs.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The checks already submitted still run (`cancel_futures` is not supported)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                for _ in self._threads:
                    self._jobs.put(None)  # one stop for each thread, after every check
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        if self._initializer is not None:
            self._initializer()
        while (batch := self._next_batch()) is not None:
            done: list[tuple[Future[Any], Any, BaseException | None]] = []
            for future, fn, args, kwargs in batch:
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    done.append((future, fn(*args, **kwargs), None))
                except BaseException as raised:  # as ThreadPoolExecutor: the caller gets it
                    done.append((future, None, raised))
            for future, result, failure in done:
                if failure is None:
                    future.set_result(result)
                else:
                    future.set_exception(failure)

    def _next_batch(self) -> list[_Job] | None:
        """The next check (waiting for one), with those waiting behind it while no other
        thread is free to take them (where there are cores for several hashes at once,
        they run side by side first); None to stop."""
        with self._lock:
            self._idle += 1
        first = self._jobs.get()
        with self._lock:
            self._idle -= 1
        if first is None:
            return None
        batch = [first]
        while len(batch) < self._batch and not self._idle:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._jobs.put(None)  # this thread's stop, or another's: for the next get
                break
            batch.append(job)
        return batch
