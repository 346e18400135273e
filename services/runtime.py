"""What every service call needs besides its arguments, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from services.clock import Clock
from services.crypto import KeyRing
from services.passwords import Passwords
from services.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Clock
    keys: KeyRing
    passwords: Passwords


@dataclass(frozen=True)
class RequestMeta:
    """Who is asking, for the security history."""

    ip_address: str | None = None
    user_agent: str | None = None
