"""Password hashing with argon2id, always off the event loop."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.settings import Settings
from services.validation import PASSWORD_MAX


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

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
            await asyncio.to_thread(self._check, password_hash, "")
            return False
        return await asyncio.to_thread(self._check, password_hash, password)

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def warm_up(self) -> None:
        """Compute the dummy hash at start-up, so the first unknown email is not slower."""
        await self._dummy()

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        return self._dummy_hash
