"""The in-process broker's subscriber mailboxes (services/broker.py): a reader that waits is
woken by the next message, and one that stopped reading keeps only the newest messages."""

from __future__ import annotations

import asyncio

from services.broker import InProcessBroker


async def test_a_waiting_subscriber_gets_each_message_in_order() -> None:
    broker = InProcessBroker()
    async with broker.subscribe(7) as messages:
        reading = asyncio.create_task(anext(aiter(messages)))
        await asyncio.sleep(0)  # the reader waits on an empty mailbox
        await broker.publish(7, "first")
        assert await asyncio.wait_for(reading, 1) == "first"
        await broker.publish(7, "second")
        await broker.publish(8, "another account's")
        await broker.publish(7, "third")
        assert [await anext(messages), await anext(messages)] == ["second", "third"]


async def test_a_subscriber_that_stopped_reading_keeps_the_newest_messages() -> None:
    broker = InProcessBroker(queue_size=3)
    async with broker.subscribe(7) as messages:
        for number in range(5):
            await broker.publish(7, f"message {number}")
        received = [await asyncio.wait_for(anext(messages), 1) for _ in range(3)]
        assert received == ["message 2", "message 3", "message 4"]
        assert broker.subscriber_count() == 1
    assert broker.subscriber_count() == 0
