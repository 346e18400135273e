"""The WebSocket protocol's write gate (transport/ws_protocol.py): senders held while the
transport is paused go on once it resumes, and one of them cancelled holds back no other."""

from __future__ import annotations

import asyncio

from transport.ws_protocol import Writable


async def test_senders_wait_while_paused_and_a_cancelled_one_does_not_stop_the_others() -> None:
    gate = Writable()
    assert gate.is_set()
    assert await asyncio.wait_for(gate.wait(), 1)  # open: no wait
    gate.clear()
    first, second, third = (asyncio.create_task(gate.wait()) for _ in range(3))
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in (first, second, third))
    second.cancel()
    await asyncio.sleep(0.01)
    assert not first.done() and not third.done()
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, third), 1) == [True, True]
    assert second.cancelled()
