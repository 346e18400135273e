"""The session watch closes each socket when its session's absolute lifetime ends, with one
timer for all the sockets of the process (transport/session_watch.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from starlette.websockets import WebSocket

from services.broker import InProcessBroker
from transport.session_watch import SESSION_ENDED, SessionWatch


class FakeSocket:
    def __init__(self, name: str, closed: list[tuple[str, int, float]]) -> None:
        self.name = name
        self._closed = closed

    async def close(self, code: int, reason: str = "") -> None:
        self._closed.append((self.name, code, time.monotonic()))


def socket(name: str, closed: list[tuple[str, int, float]]) -> Any:
    return cast("WebSocket", FakeSocket(name, closed))


async def test_each_socket_closes_at_its_own_sessions_deadline_and_a_discarded_one_never() -> None:
    closed: list[tuple[str, int, float]] = []
    watch = SessionWatch(InProcessBroker())
    started = time.monotonic()
    late, early, gone = socket("late", closed), socket("early", closed), socket("gone", closed)
    watch.add(late, account_id=1, session_id=1, lifetime_seconds=0.30)
    watch.add(early, account_id=1, session_id=2, lifetime_seconds=0.10)
    watch.add(gone, account_id=2, session_id=3, lifetime_seconds=0.05)
    watch.discard(gone)
    try:
        await asyncio.sleep(0.2)
        assert [(name, code) for name, code, _ in closed] == [("early", SESSION_ENDED)]
        await asyncio.sleep(0.25)
        assert [(name, code) for name, code, _ in closed] == [
            ("early", SESSION_ENDED),
            ("late", SESSION_ENDED),
        ]
        at = {name: when - started for name, _, when in closed}
        assert 0.09 <= at["early"] < 0.2
        assert 0.29 <= at["late"] < 0.45
    finally:
        await watch.close()


async def test_a_socket_added_again_keeps_only_its_new_deadline() -> None:
    closed: list[tuple[str, int, float]] = []
    watch = SessionWatch(InProcessBroker())
    again = socket("again", closed)
    watch.add(again, account_id=1, session_id=1, lifetime_seconds=0.05)
    watch.add(again, account_id=1, session_id=1, lifetime_seconds=0.25)
    try:
        await asyncio.sleep(0.15)
        assert closed == []
        await asyncio.sleep(0.2)
        assert [name for name, _, _ in closed] == ["again"]
    finally:
        await watch.close()
