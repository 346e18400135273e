"""The broker over Redis pub/sub, for several processes serving one database.

Each account has a channel, `verrou:account:<id>`. A process holds one pub/sub connection
whatever its number of subscribers: a reader task takes every message off it and hands it
to that process's subscribers of the account, and the connection is subscribed to an
account's channel only while the process has a subscriber of that account.

Redis going away detaches nobody: the reader reconnects with back-off and subscribes again
to every channel that still has subscribers here, and events flow again. Meanwhile
`publish` raises `BrokerUnavailable`; the change itself is committed and in the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.broker import BrokerUnavailable, Mailbox, deliver, messages

logger = logging.getLogger("verrou.broker")

CHANNEL_PREFIX = "verrou:account:"
FIRST_RETRY_SECONDS = 0.1
LAST_RETRY_SECONDS = 2.0
# A mutation publishes after its commit and waits for it: an unreachable Redis must cost it
# seconds at most, never the minutes of the operating system's defaults.
TIMEOUT_SECONDS = 2.0


def channel_of(account_id: int) -> str:
    return f"{CHANNEL_PREFIX}{account_id}"


class RedisBroker:
    def __init__(self, url: str, queue_size: int = 100) -> None:
        self._queue_size = queue_size
        self._redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS,
            # No retries inside redis-py: the reader does its own back-off and
            # re-subscribes, and a publish fails fast rather than holding a mutation.
            retry=Retry(NoBackoff(), 0),
        )
        self._queues: dict[int, set[Mailbox[str]]] = {}
        # The reader's connection while it is up, and the accounts it is subscribed to.
        self._pubsub: PubSub | None = None
        self._subscribed: set[int] = set()
        # SUBSCRIBE and UNSUBSCRIBE go out one at a time, each deciding from the state it
        # finds, so that a leave and a join of the same account cannot cross on the wire.
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def publish(self, account_id: int, message: str) -> None:
        try:
            await self._redis.publish(channel_of(account_id), message)
        except RedisError as error:
            raise BrokerUnavailable(f"Redis unavailable: {error}") from error

    async def ping(self) -> None:
        """For readiness: raises BrokerUnavailable when Redis does not answer."""
        try:
            await self._redis.ping()
        except RedisError as error:
            raise BrokerUnavailable(f"Redis unavailable: {error}") from error

    @contextlib.asynccontextmanager
    async def subscribe(self, account_id: int) -> AsyncIterator[AsyncIterator[str]]:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="verrou-redis-broker")
        # A Mailbox, as the in-process broker's: each open socket holds one or two of
        # these for its whole life, and an empty asyncio.Queue is about 3 KiB.
        queue: Mailbox[str] = Mailbox(self._queue_size)
        self._queues.setdefault(account_id, set()).add(queue)
        try:
            await self._follow(account_id)
            yield messages(queue)
        finally:
            subscribers = self._queues.get(account_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._queues[account_id]
                    await self._follow(account_id)

    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self._queues.values())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        self._queues.clear()
        await self._redis.aclose()

    async def _follow(self, account_id: int) -> None:
        """Subscribe the connection to the account's channel if this process has subscribers
        of it, unsubscribe it otherwise."""
        async with self._lock:
            pubsub = self._pubsub
            if pubsub is None or pubsub.connection is None or not pubsub.connection.is_connected:
                return  # the reader subscribes to every channel still wanted once it is back
            wanted = account_id in self._queues
            try:
                if wanted and account_id not in self._subscribed:
                    await pubsub.subscribe(channel_of(account_id))
                    self._subscribed.add(account_id)
                elif not wanted and account_id in self._subscribed:
                    self._subscribed.discard(account_id)
                    await pubsub.unsubscribe(channel_of(account_id))
            except RedisError as error:
                # The connection broke: the reader notices it too, and starts afresh.
                logger.warning("Redis subscription of account %s failed: %s", account_id, error)

    async def _read_forever(self) -> None:
        delay = FIRST_RETRY_SECONDS
        outage = False
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await self._connect(pubsub)
                if outage:
                    logger.info("Redis is back: %d channel(s) subscribed", len(self._subscribed))
                delay, outage = FIRST_RETRY_SECONDS, False
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "message":
                        account_id = int(message["channel"].removeprefix(CHANNEL_PREFIX))
                        deliver(self._queues.get(account_id, ()), account_id, message["data"])
            except RedisError as error:
                if not outage:
                    logger.warning("Redis unavailable, subscribers wait for it: %s", error)
                outage = True
            finally:
                self._pubsub = None
                async with self._lock:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_SECONDS)

    async def _connect(self, pubsub: PubSub) -> None:
        async with self._lock:
            await pubsub.connect()  # type: ignore[no-untyped-call]  # redis-py
            self._pubsub = pubsub
            self._subscribed = set(self._queues)
            if self._subscribed:
                await pubsub.subscribe(*(channel_of(account) for account in self._subscribed))
