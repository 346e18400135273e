"""Password hashing with argon2id, always off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.hashing_pool import HashingPool
from services.settings import Settings
from services.validation import PASSWORD_MAX

T = TypeVar("T")


def hashing_threads() -> int:
    """One core fewer than the machine has (at least one thread). argon2 releases the GIL
    and keeps a core busy for its whole run, so with the default executor (cores + 4
    threads) twenty sign-ins take every core and every other request waits behind them;
    a pool one core short leaves the event loop a core of its own. Sign-ins queue a little
    longer under load, the rest of the API does not."""
    return max(1, (os.cpu_count() or 2) - 1)


# How much less the hashing threads weigh than the event loop's when both want a core (the
# Linux scheduler's weights: nice 10 is about a tenth of nice 0).
HASHING_NICENESS = 10


def behind_the_event_loop() -> None:
    """Run at start in each hashing thread: where argon2 and the event loop share a core
    (one core, or more sign-ins than cores), the loop takes it back at once, so a burst
    of sign-ins does not add a scheduler slice to every other request's latency; argon2
    still has the core whenever the loop is idle, so sign-ins keep its pace. Linux sets
    the niceness of one thread by its id; elsewhere this does nothing. On Linux the thread
    also takes its Python name as its system one (`top -H`, /proc/PID/task/TID/comm), so that
    the hashing threads' CPU can be told from the event loop's (bench/status.py)."""
    if sys.platform == "linux":
        thread = threading.get_native_id()
        with contextlib.suppress(OSError):
            # Relative to the loop's (a thread starts at its creator's): a server started
            # under `nice` keeps the same distance between the two.
            niceness = os.getpriority(os.PRIO_PROCESS, thread) + HASHING_NICENESS
            os.setpriority(os.PRIO_PROCESS, thread, min(niceness, 19))
        with contextlib.suppress(OSError):
            Path(f"/proc/self/task/{thread}/comm").write_text(threading.current_thread().name[:15])


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._dummy_hash: str | None = None
        self._pool: HashingPool | None = None

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Hash on a pool of its own for the app's lifetime (see hashing_threads; the checks
        waiting are taken and answered a few at a time, services.hashing_pool), then
        wait for hashes in flight: a thread that finished after its event loop closed
        would have nowhere to deliver its result. Outside this block (command-line tools)
        hashing goes through the loop's default executor."""
        self._pool = HashingPool(hashing_threads(), "argon2", initializer=behind_the_event_loop)
        try:
            yield
        finally:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True)

    async def hash(self, password: str) -> str:
        return await self._off_loop(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when password matches. With no hash (unknown account) a dummy hash is
        verified anyway, so an unknown email costs the same time as a wrong password.
        No policy applies here (accounts may predate it), only the length cap."""
        too_long = len(password) > PASSWORD_MAX
        if password_hash is None or too_long:
            password_hash = await self._dummy()
        if too_long:
            # No password is that long, so it is wrong; argon2 still runs (on a short input,
            # against the dummy) so the answer takes the time of any other wrong password.
            await self._off_loop(self._check, password_hash, "")
            return False
        return await self._off_loop(self._check, password_hash, password)

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _off_loop(self, function: Callable[..., T], *args: str) -> T:
        if self._pool is None:
            return await asyncio.to_thread(function, *args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def warm_up(self) -> None:
        """Compute the dummy hash at start-up, so the first unknown email is not slower."""
        await self._dummy()

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        return self._dummy_hash
