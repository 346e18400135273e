"""Identical live subscriptions share one GraphQL stream.

A notification goes to every open subscription of an account: every tab and device, often
thousands on one process. Each running its own subscription would execute the same
selection on the same event and get the same answer, at a cost that grows with every
subscriber. Here subscriptions that send the same document with the same variables, for
the same account and language, join one group: the group runs the subscription once and
hands each result to every member; a member costs one queue and its own socket write.

A subscription that replays what was missed (`notifications(after: ...)`) is nobody else's:
its stream starts with the notifications newer than its own cursor, which a member joining
later would not get. It runs in a group of its own, unshared, so the session watch still
sees what it has sent (`sent_before`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_operation_ast,
    parse,
)
from strawberry import Schema

from services.broker import Mailbox

logger = logging.getLogger("verrou.subscriptions")

Key = tuple[str, str, str | None, int, str]
_END = object()
MEMBER_BACKLOG = 100
_ARGUMENTS = ("variable_values", "context_value", "root_value", "operation_name")


@functools.lru_cache(maxsize=256)
def _operation(
    query: str, operation_name: str | None
) -> tuple[DocumentNode, OperationDefinitionNode] | None:
    try:
        document = parse(query)
        operation = get_operation_ast(document, operation_name)
    except GraphQLError:
        return None  # the schema's own stream reports the syntax error
    return (document, operation) if operation else None


@functools.lru_cache(maxsize=256)
def _operation_type(query: str, operation_name: str | None) -> OperationType | None:
    found = _operation(query, operation_name)
    return found[1].operation if found else None


def _replays(query: str | None, operation_name: str | None, variables: object) -> bool:
    """Whether a root field of the subscription gets an `after` that may not be null."""
    found = _operation(query, operation_name) if query is not None else None
    if found is None:
        return False
    document, operation = found
    fragments = {
        definition.name.value: definition.selection_set
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    values = variables if isinstance(variables, dict) else {}
    defaults = {
        definition.variable.name.value: definition.default_value
        for definition in operation.variable_definitions or ()
    }

    def may_replay(value: object) -> bool:
        if isinstance(value, NullValueNode):
            return False
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in values:
                return values[name] is not None
            default = defaults.get(name)
            return default is not None and not isinstance(default, NullValueNode)
        return True

    def walk(selections: SelectionSetNode, seen: frozenset[str]) -> bool:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                if any(
                    argument.name.value == "after" and may_replay(argument.value)
                    for argument in selection.arguments or ()
                ):
                    return True
            elif isinstance(selection, InlineFragmentNode):
                if walk(selection.selection_set, seen):
                    return True
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    if walk(fragments[name], seen | {name}):
                        return True
        return False

    return walk(operation.selection_set, frozenset())


def _offer(queue: Mailbox[Any], item: object) -> None:
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
        self.members: dict[Mailbox[Any], object] = {}
        # Queues whose reader waits for the next item: everything before it was sent.
        self.waiting: set[Mailbox[Any]] = set()
        # The stream runs with its first member's context; its resolver notes there the
        # sessions-ended messages it has read (resolvers/subscriptions.py).
        self.context = context
        self._on_end = on_end
        # The stream starts once a member listens: its first results are not lost. A
        # future rather than an asyncio.Event, whose deque of waiters is most of a KiB for
        # each account with a socket open.
        self._joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._pump(source), name="verrou-subscription-group")

    async def _pump(self, source: Callable[[], Awaitable[Any]]) -> None:
        ending: object = _END
        try:
            await self._joined
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
        queue: Mailbox[Any] = Mailbox(MEMBER_BACKLOG)
        self.members[queue] = owner
        if not self._joined.done():
            self._joined.set_result(None)
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
        self._unshared: set[_Group] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    def member_count(self) -> int:
        return sum(len(group.members) for group in self._all_groups())

    def group_count(self) -> int:
        return len(self._groups) + len(self._unshared)

    def _all_groups(self) -> list[_Group]:
        return [*self._groups.values(), *self._unshared]

    def sent_before(self, owner: object, ended_message: str) -> bool:
        """Whether every shared subscription of the connection `owner` has sent all it had
        to send before the sessions-ended `ended_message` (transport/session_watch.py): its
        group's stream has read that message, so each notification published before it was
        handed to the members, and the connection's queues are empty with their reader
        waiting, so each was written to the socket."""
        for group in self._all_groups():
            owned = [queue for queue, member in group.members.items() if member is owner]
            if not owned:
                continue
            if ended_message not in (getattr(group.context, "ended_seen", None) or ()):
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
                query,
                named.get("variable_values"),
                named.get("context_value"),
                named.get("operation_name"),
            )
        )
        if key is None:
            return await source()
        context = named.get("context_value")
        if _replays(query, named.get("operation_name"), variables):
            unshared = _Group(key, source, self._forget, context)
            self._unshared.add(unshared)
            return unshared.member(getattr(context, "request", None))
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key, source, self._forget, context)
        return group.member(getattr(context, "request", None))

    def _forget(self, group: _Group) -> None:
        self._unshared.discard(group)
        # Only this group: a new one may already serve the same key.
        if self._groups.get(group.key) is group:
            del self._groups[group.key]


def _key(query: str | None, variables: Any, context: Any, operation_name: str | None) -> Key | None:
    """The group of a subscription. Not the protocol: both protocols' methods run a
    subscription document alike (`subscribe` is `stream` limited to subscriptions, and only
    subscription documents get a key), so a page's two sockets share one stream."""
    account = getattr(context, "account", None)
    locale = getattr(context, "locale", None)
    if query is None or account is None or locale is None:
        return None
    if _operation_type(query, operation_name) is not OperationType.SUBSCRIPTION:
        return None
    encoded = json.dumps(variables, sort_keys=True, default=str) if variables else ""
    return (query, encoded, operation_name, account.id, locale)
