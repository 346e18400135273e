"""What every service call needs besides its arguments, built once per process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from services.broker import Broker, InProcessBroker
from services.clock import Clock
from services.crypto import KeyRing, load_key_ring
from services.metrics import Metrics
from services.passwords import Passwords
from services.redis_broker import RedisBroker
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
    # Support acted on a customer's account: the customer's history and emails say so and
    # carry no IP address or browser (support's own are not the customer's).
    by_support: bool = False

    @property
    def stored_user_agent(self) -> str | None:
        """The user agent as rows keep it: cut to the columns' 512 characters, None when
        the request sent none."""
        return (self.user_agent or "")[:512] or None


def make_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """The process's runtime: keys, password hasher, broker (Redis when REDIS_URL is set)."""
    return Runtime(
        settings=settings,
        clock=clock or Clock(),
        keys=load_key_ring(
            settings.encryption_keys.get_secret_value(),
            settings.var_dir,
            development=settings.is_development,
        ),
        passwords=Passwords(settings),
        broker=RedisBroker(settings.redis_url) if settings.redis_url else InProcessBroker(),
    )
