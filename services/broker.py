"""Fan-out of account events to live subscribers.

The interface is two calls, so that a Redis pub/sub implementation can stand in for the
in-process one when several processes serve one database: `publish` a text message on an
account's channel, and `subscribe` to an account's channel for as long as a context lasts.
The Redis one is in `services.redis_broker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")

logger = logging.getLogger("verrou.broker")


class BrokerUnavailable(OSError):
    """The broker cannot be reached: the event is lost, the change it reports is not."""


class Broker(Protocol):
    async def publish(self, account_id: int, message: str) -> None: ...

    def subscribe(
        self, account_id: int
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[str]]: ...

    async def close(self) -> None: ...


class Mailbox(Generic[T]):
    """A bounded queue with one reader: the part of asyncio.Queue that the fan-out uses.

    Every open socket holds a few of these (its subscriptions' and its account's), so their
    size counts: an empty asyncio.Queue is four deques and an Event, about 2.5 KiB; this is a
    list and, while its reader waits, a future."""

    __slots__ = ("_items", "_maxsize", "_waiter")

    def __init__(self, maxsize: int) -> None:
        self._items: list[T] = []
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return len(self._items) >= self._maxsize

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> None:
        if self.full():
            raise asyncio.QueueFull
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> T:
        if not self._items:
            raise asyncio.QueueEmpty
        # A backlog is a handful of messages at most (bounded by maxsize): popping the
        # front of a short list costs less than a deque's 600-byte block per mailbox.
        return self._items.pop(0)

    async def get(self) -> T:
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class InProcessBroker:
    """Subscribers of this process only: enough for one process (the embedded default)."""

    def __init__(self, queue_size: int = 100) -> None:
        self._queue_size = queue_size
        self._channels: dict[int, set[Mailbox[str]]] = {}

    async def publish(self, account_id: int, message: str) -> None:
        deliver(self._channels.get(account_id, ()), account_id, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, account_id: int) -> AsyncIterator[AsyncIterator[str]]:
        queue: Mailbox[str] = Mailbox(self._queue_size)
        self._channels.setdefault(account_id, set()).add(queue)
        try:
            yield messages(queue)
        finally:
            subscribers = self._channels.get(account_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._channels[account_id]

    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self._channels.values())

    async def close(self) -> None:
        self._channels.clear()


def deliver(queues: Iterable[Mailbox[str]], account_id: int, message: str) -> None:
    """Hand a message to this process's subscribers of an account."""
    for queue in queues:
        if queue.full():
            # A stalled client must not hold memory without bound; the feed keeps
            # every notification, so the oldest live one is the one to let go.
            queue.get_nowait()
            logger.warning("subscriber of account %s lags: dropped its oldest event", account_id)
        queue.put_nowait(message)


async def messages(queue: Mailbox[str]) -> AsyncIterator[str]:
    while True:
        yield await queue.get()
