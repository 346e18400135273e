"""What every service call needs besides its arguments, built once per process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from services.broker import Broker
from services.clock import Clock
from services.crypto import KeyRing
from services.metrics import Metrics
from services.passwords import Passwords
from services.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Clock
    keys: KeyRing
    passwords: Passwords
    broker: Broker
    metrics: Metrics = field(default_factory=Metrics)
    # Set after a transaction that wrote outbox rows commits: wakes the mail worker.
    mail_ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class RequestMeta:
    """Who is asking, for the security history."""

    ip_address: str | None = None
    user_agent: str | None = None
