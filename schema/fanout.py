"""Identical live subscriptions share one GraphQL stream.

A notification goes to every open subscription of an account: every tab and device, often
thousands on one process. Each running its own subscription would execute the same
selection on the same event and get the same answer, at a cost that grows with every
subscriber. Here subscriptions that send the same document with the same variables, for
the same account and language, join one group: the group runs the subscription once and
hands each result to every member; a member costs one queue and its own socket write.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from strawberry import Schema

logger = logging.getLogger("verrou.subscriptions")

Key = tuple[str, str, str, str | None, int, str]
_END = object()
MEMBER_BACKLOG = 100
_ARGUMENTS = ("variable_values", "context_value", "root_value", "operation_name")


@functools.lru_cache(maxsize=256)
def _operation_type(query: str, operation_name: str | None) -> OperationType | None:
    try:
        operation = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return None  # the schema's own stream reports the syntax error
    return operation.operation if operation else None


def _offer(queue: asyncio.Queue[Any], item: object) -> None:
    if queue.full():
        # A client that stopped reading: the feed keeps every notification, so its oldest
        # live one is the one to let go.
        queue.get_nowait()
    queue.put_nowait(item)


class _Group:
    def __init__(
        self,
        key: Key,
        source: Callable[[], Awaitable[Any]],
        on_end: Callable[[_Group], None],
        context: Any,
    ) -> None:
        self.key = key
        # queue -> the connection (the context's request) whose handler reads it
        self.members: dict[asyncio.Queue[Any], object] = {}
        # Queues whose reader waits for the next item: everything before it was sent.
        self.waiting: set[asyncio.Queue[Any]] = set()
        # The stream runs with its first member's context; its resolver notes there the
        # sessions-ended messages it has read (resolvers/subscriptions.py).
        self.context = context
        self._on_end = on_end
        self._task = asyncio.create_task(self._pump(source), name="verrou-subscription-group")

    async def _pump(self, source: Callable[[], Awaitable[Any]]) -> None:
        ending: object = _END
        try:
            stream = await source()
            async with contextlib.aclosing(stream):
                async for result in stream:
                    for queue in self.members:
                        _offer(queue, result)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # handed to every member, whose handler reports it
            ending = error
        finally:
            self._on_end(self)
            for queue in self.members:
                _offer(queue, ending)

    async def member(self, owner: object) -> AsyncGenerator[Any, None]:
        queue: asyncio.Queue[Any] = asyncio.Queue(MEMBER_BACKLOG)
        self.members[queue] = owner
        try:
            while True:
                self.waiting.add(queue)
                try:
                    item = await queue.get()
                finally:
                    self.waiting.discard(queue)
                if item is _END:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.members.pop(queue, None)
            if not self.members:
                self._on_end(self)
                self._task.cancel()


class FanOutSchema:
    """The schema as the WebSocket handlers see it; everything but subscriptions passes
    straight through."""

    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        self._groups: dict[Key, _Group] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    def member_count(self) -> int:
        return sum(len(group.members) for group in self._groups.values())

    def group_count(self) -> int:
        return len(self._groups)

    def sent_before(self, owner: object, ended_message: str) -> bool:
        """Whether every shared subscription of the connection `owner` has sent all it had
        to send before the sessions-ended `ended_message` (transport/session_watch.py): its
        group's stream has read that message, so each notification published before it was
        handed to the members, and the connection's queues are empty with their reader
        waiting, so each was written to the socket."""
        for group in list(self._groups.values()):
            owned = [queue for queue, member in group.members.items() if member is owner]
            if not owned:
                continue
            if ended_message not in getattr(group.context, "ended_seen", ()):
                return False
            if any(not queue.empty() or queue not in group.waiting for queue in owned):
                return False
        return True

    async def stream(self, query: str | None, *args: Any, **options: Any) -> Any:
        """graphql-transport-ws asks for this one."""
        return await self._shared("stream", query, args, options)

    async def subscribe(self, query: str | None, *args: Any, **options: Any) -> Any:
        """The legacy graphql-ws protocol asks for this one."""
        return await self._shared("subscribe", query, args, options)

    async def _shared(
        self, method: str, query: str | None, args: tuple[Any, ...], options: dict[str, Any]
    ) -> Any:
        # The schema's own signature: (query, variable_values, context_value, root_value,
        # operation_name, ...), positional or by keyword.
        named = dict(zip(_ARGUMENTS, args, strict=False), **options)

        run: Callable[..., Awaitable[Any]] = getattr(self._schema, method)

        def source() -> Awaitable[Any]:
            return run(query, **named)

        # Any other option (extensions, allowed types) may change the answer: not shared.
        # Nor is a request over the schema's size or token limits: the schema refuses it
        # before parsing, and working out a key would parse it.
        limits = getattr(self._schema, "limits", None)
        variables = named.get("variable_values")
        key = (
            None
            if set(named) - set(_ARGUMENTS)
            or (
                limits is not None
                and limits.check_request(query, variables if isinstance(variables, dict) else None)
            )
            else _key(
                method,
                query,
                named.get("variable_values"),
                named.get("context_value"),
                named.get("operation_name"),
            )
        )
        if key is None:
            return await source()
        context = named.get("context_value")
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key, source, self._forget, context)
        return group.member(getattr(context, "request", None))

    def _forget(self, group: _Group) -> None:
        # Only this group: a new one may already serve the same key.
        if self._groups.get(group.key) is group:
            del self._groups[group.key]


def _key(
    method: str, query: str | None, variables: Any, context: Any, operation_name: str | None
) -> Key | None:
    account = getattr(context, "account", None)
    locale = getattr(context, "locale", None)
    if query is None or account is None or locale is None:
        return None
    if _operation_type(query, operation_name) is not OperationType.SUBSCRIPTION:
        return None
    encoded = json.dumps(variables, sort_keys=True, default=str) if variables else ""
    return (method, query, encoded, operation_name, account.id, locale)
