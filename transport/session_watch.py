"""Closes the WebSockets of sessions that end while they are open: signed out or revoked
(services.session_events, from any process), past their absolute lifetime, or idle.

A socket has one session, the one its `connection_init` (or upgrade request) signed in; a
second `connection_init` closes the socket (transport/sockets.py), so nothing started under
one session runs on under another. Besides the broker's word, a check every
SOCKET_SESSION_CHECK_SECONDS looks the sessions of this process's sockets up in the database
and closes those that ended without one: idle past SESSION_IDLE_SECONDS (a socket's own
operations are uses, services.socket_sessions), or revoked while the broker was away.

One broker subscription per account that has open sockets in this process, not one per
socket: a socket costs an entry in a dict. The close code is 4403, the one a socket without
a valid session gets when it opens, so a client treats both alike (sign in again).

A change that ends sessions publishes its notifications first, then the sessions-ended
message (services.changes). Both reach this process's subscriptions of the account at once,
but a notification still has a way to go before it is on the socket (the subscription's
stream executes it, the fan-out hands it to each member's queue, the member's handler
writes it), while the watch would close the socket as soon as it reads the message: the page
never heard why. So the watch closes a socket only once its subscriptions have sent what
came before the message (`sent_before`, schema/fanout.py), or after DRAIN_SECONDS at most,
so a stuck subscription cannot keep an ended session's socket open.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Collection

from starlette.websockets import WebSocket, WebSocketDisconnect

from services.broker import Broker
from services.session_events import EVERY_SESSION, ended_sessions

logger = logging.getLogger("verrou.sessions")
SESSION_ENDED = 4403
DRAIN_SECONDS = 2.0
_DRAIN_POLL_SECONDS = 0.005
_TIMER_SLACK_SECONDS = 0.001

# (socket, sessions-ended message) -> whether the socket has sent all that came before it
SentBefore = Callable[[WebSocket, str], bool]
# session ids -> those still live (services.socket_sessions.live_among)
LiveAmong = Callable[[Collection[int]], Awaitable[set[int]]]


class SessionWatch:
    def __init__(
        self,
        broker: Broker,
        sent_before: SentBefore | None = None,
        *,
        live_among: LiveAmong | None = None,
        check_seconds: float = 60.0,
    ) -> None:
        self._broker = broker
        self._sent_before = sent_before
        self._live_among = live_among
        self._check_seconds = check_seconds
        self._check: asyncio.Task[None] | None = None
        # account id -> {socket: session id}
        self._sockets: dict[int, dict[WebSocket, int]] = {}
        self._accounts: dict[WebSocket, int] = {}
        self._listeners: dict[int, asyncio.Task[None]] = {}
        # socket -> when (loop time) its session's lifetime ends. One timer for them all, set
        # for the earliest, not one per socket: a heap of (when, order, socket) whose entries
        # of sockets gone or re-added are skipped when they come up (and dropped in bulk when
        # they outnumber the live ones).
        self._deadlines: dict[WebSocket, float] = {}
        self._heap: list[tuple[float, int, WebSocket]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def add(
        self, socket: WebSocket, account_id: int, session_id: int, lifetime_seconds: float
    ) -> None:
        """Watch a socket of a session that ends on its own in `lifetime_seconds` (its
        absolute lifetime), if nothing ends it before."""
        self.discard(socket)  # never twice in practice: a second connection_init closes it
        self._sockets.setdefault(account_id, {})[socket] = session_id
        self._accounts[socket] = account_id
        self._add_deadline(socket, asyncio.get_running_loop().time() + max(0.0, lifetime_seconds))
        if account_id not in self._listeners:
            self._listeners[account_id] = asyncio.create_task(
                self._listen(account_id), name=f"verrou-session-watch-{account_id}"
            )
        if self._live_among is not None and self._check is None:
            self._check = asyncio.create_task(self._check_often(), name="verrou-session-check")

    def discard(self, socket: WebSocket) -> None:
        self._deadlines.pop(socket, None)
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._deadlines):
            self._heap = [
                entry for entry in self._heap if self._deadlines.get(entry[2]) == entry[0]
            ]
            heapq.heapify(self._heap)
        account_id = self._accounts.pop(socket, None)
        if account_id is None:
            return
        sockets = self._sockets.get(account_id, {})
        sockets.pop(socket, None)
        if not sockets:
            self._sockets.pop(account_id, None)
            listener = self._listeners.pop(account_id, None)
            if listener is not None:
                listener.cancel()
        if not self._accounts and self._check is not None:
            self._check.cancel()
            self._check = None

    def account_count(self) -> int:
        return len(self._listeners)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadlines.clear()
        self._heap.clear()
        listeners = list(self._listeners.values())
        if self._check is not None:
            listeners.append(self._check)
            self._check = None
        self._listeners.clear()
        self._sockets.clear()
        self._accounts.clear()
        for listener in listeners:
            listener.cancel()
        for listener in listeners:
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        closing = list(self._closing)
        for task in closing:
            task.cancel()
        for task in closing:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _add_deadline(self, socket: WebSocket, when: float) -> None:
        self._deadlines[socket] = when
        heapq.heappush(self._heap, (when, next(self._order), socket))
        if self._heap[0][2] is socket:  # the earliest now: the timer moves up
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._heap:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(self._heap[0][0], self._expire_due)

    def _expire_due(self) -> None:
        self._timer = None
        # The loop runs a timer up to its clock's resolution early: a deadline that close is due.
        now = asyncio.get_running_loop().time() + _TIMER_SLACK_SECONDS
        while self._heap and self._heap[0][0] <= now:
            when, _, socket = heapq.heappop(self._heap)
            if self._deadlines.get(socket) == when:
                self._expire(socket)
        self._arm()

    def _expire(self, socket: WebSocket) -> None:
        self._deadlines.pop(socket, None)
        task = asyncio.create_task(_close(socket), name="verrou-session-expired")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _check_often(self) -> None:
        live_among = self._live_among
        if live_among is None:
            return
        while True:
            await asyncio.sleep(self._check_seconds)
            watched = {
                socket: session_id
                for sockets in self._sockets.values()
                for socket, session_id in sockets.items()
            }
            try:
                live = await live_among(set(watched.values()))
            except Exception:  # the database may be away a while: the next check tries again
                logger.exception("could not check the sessions of open sockets")
                continue
            for socket, session_id in watched.items():
                if session_id not in live and socket in self._accounts:
                    self.discard(socket)
                    self._expire(socket)

    async def _listen(self, account_id: int) -> None:
        async with self._broker.subscribe(account_id) as messages:
            async for message in messages:
                ended = ended_sessions(message)
                if ended is None:
                    continue  # a notification: the subscriptions' business
                sockets = self._sockets.get(account_id, {})
                for socket, session_id in list(sockets.items()):
                    if ended == EVERY_SESSION or session_id in ended:
                        # Not awaited here: one slow socket must not hold up the others.
                        task = asyncio.create_task(
                            self._close_once_sent(socket, message), name="verrou-session-ended"
                        )
                        self._closing.add(task)
                        task.add_done_callback(self._closing.discard)

    async def _close_once_sent(self, socket: WebSocket, message: str) -> None:
        # Polled, not awaited on an event: "sent" is the state of several queues and their
        # readers, and it settles within a few event-loop turns.
        for _ in range(int(DRAIN_SECONDS / _DRAIN_POLL_SECONDS)):
            if self._sent_before is None or self._sent_before(socket, message):
                break
            await asyncio.sleep(_DRAIN_POLL_SECONDS)
        await _close(socket)


async def _close(socket: WebSocket) -> None:
    # Already closing or closed: by the server, or by the client in the meantime.
    with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
        await socket.close(code=SESSION_ENDED, reason="session ended")
