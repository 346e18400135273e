"""The Redis broker against a real redis-server that each test starts (and kills) itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from services.broker import Mailbox
from services.clock import FrozenClock
from services.redis_broker import RedisBroker, channel_of
from services.settings import Settings
from tests.conftest import TEST_KEY, LiveServer, free_port, make_settings
from tests.helpers import Api, until
from tests.redis_server import REDIS_SERVER, RedisServer
from tests.ws_client import subscriber

ROOT = Path(__file__).parents[1]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: the Redis broker tests start one")
    server = RedisServer(REDIS_SERVER, free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def brokers(redis_server: RedisServer) -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    """Two brokers on one Redis, standing for two processes."""
    first, second = RedisBroker(redis_server.url), RedisBroker(redis_server.url)
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture
async def plain_redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def settings(db_path: Path, tmp_path: Path, redis_server: RedisServer) -> Settings:
    """The app of the `live` fixture, on Redis."""
    return make_settings(db_path, tmp_path / "var", redis_url=redis_server.url)


@pytest.fixture
def other_process(database_url: str, tmp_path: Path, redis_server: RedisServer) -> Iterator[str]:
    """A second Verrou process (`server.py serve`) on the same database and Redis; its URL."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        VAR_DIR=str(tmp_path / "other-var"),
        ENCRYPTION_KEYS=TEST_KEY,
        ENVIRONMENT="development",
        REDIS_URL=redis_server.url,
        HOST="127.0.0.1",
        PORT=str(port),
        OUTBOX_WORKER="false",
    )
    log = tmp_path / "other-process.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "server.py", "serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield url
    except BaseException:
        print(log.read_text(errors="replace"))
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=url, timeout=5) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"the other process exited with {process.returncode}"
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    raise AssertionError("the other process did not answer /healthz within 30 s")


@contextlib.asynccontextmanager
async def listening(broker: RedisBroker, account_id: int) -> AsyncIterator[asyncio.Queue[str]]:
    """A subscriber whose messages land in a queue, so a test can wait on it with a timeout."""
    received: asyncio.Queue[str] = asyncio.Queue()
    async with broker.subscribe(account_id) as events:

        async def pump() -> None:
            async for message in events:
                received.put_nowait(message)

        task = asyncio.create_task(pump())
        try:
            yield received
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def subscribers_in_redis(client: Redis, account_id: int) -> Callable[[int], Awaitable[bool]]:
    async def count_is(expected: int) -> bool:
        [(_, count)] = await client.pubsub_numsub(channel_of(account_id))
        return bool(count == expected)

    return count_is


async def next_message(received: asyncio.Queue[str]) -> str:
    return await asyncio.wait_for(received.get(), 5)


async def test_a_message_published_by_one_process_reaches_the_subscribers_of_another(
    brokers: tuple[RedisBroker, RedisBroker], plain_redis: Redis
) -> None:
    publisher, listener = brokers
    async with listening(listener, 1) as alice, listening(listener, 2) as bob:
        numsub = subscribers_in_redis(plain_redis, 1)
        await eventually(lambda: numsub(1))
        await eventually(lambda: subscribers_in_redis(plain_redis, 2)(1))

        await publisher.publish(1, "for alice")
        await publisher.publish(2, "for bob")
        assert await next_message(alice) == "for alice"
        # Bob's first message is his own: Alice's never reached him.
        assert await next_message(bob) == "for bob"
        assert alice.empty()

        # Two accounts' subscribers, one pub/sub connection for the whole process.
        clients = await plain_redis.client_list()
        assert [client["sub"] for client in clients if client["sub"] != "0"] == ["2"]


async def test_subscribers_hear_again_once_redis_is_back(
    brokers: tuple[RedisBroker, RedisBroker], redis_server: RedisServer
) -> None:
    publisher, listener = brokers
    async with listening(listener, 7) as received:
        await publish_until_heard(publisher, 7, received)

        redis_server.stop()
        with pytest.raises(OSError, match="Redis unavailable"):
            await publisher.publish(7, "lost")
        redis_server.start()

        # The same subscription, never renewed, hears again once its process re-subscribed.
        await publish_until_heard(publisher, 7, received)
        await publisher.publish(7, "after the outage")
        while (message := await next_message(received)) != "after the outage":
            assert message == "ping"
        assert listener.subscriber_count() == 1


async def publish_until_heard(
    publisher: RedisBroker, account_id: int, received: asyncio.Queue[str]
) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            await publisher.publish(account_id, "ping")
        with contextlib.suppress(TimeoutError):
            assert await asyncio.wait_for(received.get(), 0.2) == "ping"
            return
    raise AssertionError("the subscriber never heard again")


async def test_the_channel_is_left_when_the_last_local_subscriber_leaves(
    brokers: tuple[RedisBroker, RedisBroker], plain_redis: Redis
) -> None:
    publisher, listener = brokers
    numsub = subscribers_in_redis(plain_redis, 3)
    async with listening(listener, 3) as first:
        async with listening(listener, 3):
            # Two subscribers here, one subscription in Redis.
            await eventually(lambda: numsub(1))
        assert listener.subscriber_count() == 1
        await publisher.publish(3, "still here")
        assert await next_message(first) == "still here"
        assert await numsub(1)
    assert listener.subscriber_count() == 0
    await eventually(lambda: numsub(0))
    assert await plain_redis.pubsub_channels() == []


async def test_a_change_made_through_one_process_reaches_a_subscriber_of_another(
    live: LiveServer, other_process: str, clock: FrozenClock, plain_redis: Redis
) -> None:
    """Two processes on one database and one Redis: the change goes through the other
    process, the WebSocket subscriber is connected to this one (`live`)."""
    # The other process runs on the real clock: agree with it on sessions and TOTP steps.
    clock.set(datetime.now(UTC))
    broker = live.app.state.runtime.broker
    assert isinstance(broker, RedisBroker)
    headers = {"user-agent": "verrou-tests/1.0"}
    async with httpx.AsyncClient(base_url=other_process, headers=headers) as client:
        api = Api(client, clock)
        token = await api.sign_up()
        async with subscriber(live.ws_url, token) as listener:
            await until(lambda: broker.subscriber_count() == 1)

            async def channel_subscribed() -> bool:
                return len(await plain_redis.pubsub_channels()) == 1

            await eventually(channel_subscribed)

            await api.enable_two_factor(token)
            event = (await listener.next_event())["data"]["notifications"]
            assert (event["kind"], event["level"]) == ("TWO_FACTOR_ENABLED", "SUCCESS")
            assert event["account"]["email"] == "alice@example.com"
            assert event["account"]["twoFactor"]["enabled"] is True


async def test_readiness_follows_redis(api: Api, redis_server: RedisServer) -> None:
    ready = await api.client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"database": "ok", "broker": "ok"})
    redis_server.stop()
    gone = await api.client.get("/readyz")
    assert (gone.status_code, gone.json()) == (503, {"database": "ok", "broker": "unavailable"})
    redis_server.start()
    assert (await api.client.get("/readyz")).status_code == 200


async def test_a_subscriber_that_stopped_reading_keeps_the_newest_messages_in_a_mailbox(
    redis_server: RedisServer, plain_redis: Redis
) -> None:
    """Each open socket holds one of these queues for its whole life: a Mailbox (a list),
    not an asyncio.Queue (about 3 KiB empty), bounded as the in-process broker's."""
    publisher, listener = RedisBroker(redis_server.url), RedisBroker(redis_server.url, 3)
    try:
        async with listener.subscribe(4) as events:
            [queue] = listener._queues[4]
            assert isinstance(queue, Mailbox)
            await eventually(lambda: subscribers_in_redis(plain_redis, 4)(1))
            for number in range(5):
                await publisher.publish(4, f"event {number}")
            await until(lambda: queue.qsize() == 3 and "event 4" in queue._items)
            received = [await asyncio.wait_for(anext(events), 5) for _ in range(3)]
            assert received == ["event 2", "event 3", "event 4"]
            assert queue.empty()
    finally:
        await publisher.close()
        await listener.close()
