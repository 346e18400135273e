"""The two WebSocket protocols' handlers, held to what an HTTP request is held to.

- **One socket, one session.** The first `connection_init` signs the socket in; a second one
  closes it with 4429 ("Too many initialisation requests", graphql-transport-ws's own rule,
  applied to the legacy graphql-ws protocol too), whatever token it carries. Otherwise the
  operations started under the first session would run on under the second, and outlive
  the first one's sign-out.
- **Each operation is a use of the session.** Starting one (`subscribe`, or the legacy
  `start`) checks that the session is still live and records the use as an HTTP request
  does (at most once a minute; services.socket_sessions). A session that has ended closes
  the socket with 4403 instead. Nothing else is a use: keep-alives (`ping`, `pong`, `ka`)
  and the events a subscription sends keep no session alive, so a forgotten tab still goes
  idle.
- **Each operation is seen.** It writes the request log line and the metric sample an HTTP
  request writes (transport/middleware.record_request): the operation's root fields, its
  outcome, its duration (for a subscription, how long it ran) and a request id of its own,
  with the socket's id beside it.

The limits of schema/limits.py apply as they do over HTTP: sizes and tokens in
VerrouSchema.stream, depth and aliases among the validation rules. So does
TRUSTED_DOCUMENTS_ONLY: a document outside the manifest is refused before it is parsed.
"""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from graphql import GraphQLError, OperationDefinitionNode, parse
from starlette.websockets import WebSocket
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage as TransportConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage,
    StartMessage,
)
from strawberry.types.execution import PreExecutionError

from resolvers.context import Context
from schema.observability import outcome_of, root_fields
from services import socket_sessions
from services.errors import PersistedQueryNotAllowed
from services.persisted_queries import PersistedQueries
from transport.middleware import record_request
from transport.session_watch import SESSION_ENDED
from transport.ws_messages import CheckedLegacyWSHandler, CheckedTransportWSHandler

TOO_MANY_INITIALISATIONS = 4429


async def session_in_use(context: Context) -> bool:
    """Before an operation starts: is the socket's session still live? Records the use; when
    the session has ended, closes the socket (4403) and answers False."""
    session = context.session
    if session is None:
        return True  # not acknowledged: the protocol handler refuses the operation itself
    if await socket_sessions.use(context.runtime, session):
        return True
    socket = context.request
    if isinstance(socket, WebSocket):
        with contextlib.suppress(RuntimeError, OSError):  # already closing or closed
            await socket.close(code=SESSION_ENDED, reason="session ended")
    return False


class TransportWSHandler(CheckedTransportWSHandler):
    """graphql-transport-ws: Strawberry already refuses a second connection_init (4429)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = observed(
            self.schema, self.context, GRAPHQL_TRANSPORT_WS_PROTOCOL, _persisted_of(self.view)
        )

    async def handle_connection_init(self, message: TransportConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        # Strawberry has cancelled its wait for this message, but would keep the task, and
        # its coroutine, for as long as the socket is open: about half a KiB of every socket.
        self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and not await session_in_use(self.context):
            return
        await super().handle_subscribe(message)


class LegacyWSHandler(CheckedLegacyWSHandler):
    """The legacy graphql-ws protocol (subscriptions-transport-ws)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = observed(
            self.schema, self.context, GRAPHQL_WS_PROTOCOL, _persisted_of(self.view)
        )
        self.connection_init_received = False

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.connection_init_received:
            await self.websocket.close(
                code=TOO_MANY_INITIALISATIONS, reason="Too many initialisation requests"
            )
            return
        self.connection_init_received = True
        await super().handle_connection_init(message)

    async def handle_start(self, message: StartMessage) -> None:
        if self.connection_acknowledged and not await session_in_use(self.context):
            return
        await super().handle_start(message)


def _persisted_of(view: object) -> PersistedQueries:
    # The view is VerrouGraphQL (graphql_http.py, which imports this module): its documents.
    persisted = getattr(view, "persisted", None)
    if not isinstance(persisted, PersistedQueries):
        raise TypeError("the WebSocket handlers run under VerrouGraphQL")
    return persisted


def observed(
    schema: BaseSchema, context: Context, protocol: str, persisted: PersistedQueries
) -> BaseSchema:
    # A stand-in with the two methods the handlers call, and the schema's own for the rest.
    return cast("BaseSchema", ObservedSchema(schema, context, protocol, persisted))


class ObservedSchema:
    """The schema as one socket's handler sees it: every operation's results pass through
    `_observed`, which logs and counts the operation when it ends."""

    def __init__(
        self, schema: Any, context: Context, protocol: str, persisted: PersistedQueries
    ) -> None:
        self._schema = schema
        self._context = context
        self._protocol = protocol
        self._persisted = persisted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    async def stream(self, query: str | None = None, **options: Any) -> AsyncGenerator[Any, None]:
        """graphql-transport-ws asks for this one."""
        return await self._run("stream", query, options)

    async def subscribe(
        self, query: str | None = None, **options: Any
    ) -> AsyncGenerator[Any, None]:
        """The legacy graphql-ws protocol asks for this one."""
        return await self._run("subscribe", query, options)

    async def _run(
        self, method: str, query: str | None, options: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        started = time.perf_counter()
        operation_name = options.get("operation_name")
        if isinstance(query, str):
            try:
                self._persisted.check_allowed(query)
            except PersistedQueryNotAllowed:
                self._record(query, operation_name, "rejected", started)
                return _refused(NOT_ALLOWED_MESSAGE, PersistedQueryNotAllowed.code)
        try:
            source = await getattr(self._schema, method)(query, **options)
        except Exception:
            self._record(query, operation_name, "error", started)
            raise
        return self._observed(source, query, operation_name, started)

    async def _observed(
        self,
        source: AsyncIterator[Any],
        query: str | None,
        operation_name: str | None,
        started: float,
    ) -> AsyncGenerator[Any, None]:
        # A subscription that ends before its first event (stopped, socket closed) went fine.
        outcome = "ok"
        first = True
        try:
            async with contextlib.aclosing(source):  # type: ignore[type-var]
                async for result in source:
                    if first and isinstance(result, PreExecutionError):
                        outcome = "rejected"
                    elif outcome == "ok":  # the first error or refusal is the outcome
                        outcome = outcome_of(result)
                    first = False
                    yield result
        except GeneratorExit:
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            self._record(query, operation_name, outcome, started)

    def _record(
        self, query: str | None, operation_name: str | None, outcome: str, started: float
    ) -> None:
        socket = self._context.request
        label, name = ("invalid", operation_name)
        if outcome != "rejected":
            # A refused document is no label: it may name fields that do not exist, and one
            # over the limits is never parsed.
            label, name = _describe(
                query if isinstance(query, str) else None,
                operation_name if isinstance(operation_name, str) else None,
            )
        record_request(
            self._context.runtime.metrics,
            request_id=uuid.uuid4().hex,
            method="WEBSOCKET",
            path=socket.url.path,
            status=None,
            seconds=time.perf_counter() - started,
            operation=label,
            operation_name=name,
            outcome=outcome,
            socket_id=socket.scope.get("state", {}).get("request_id"),
            protocol=self._protocol,
        )


NOT_ALLOWED_MESSAGE = "The operation is not in the server's list of trusted documents."


async def _refused(message: str, code: str) -> AsyncGenerator[Any, None]:
    """What the handlers send as the operation's error message, as for a document that does
    not validate: a first result that is a PreExecutionError."""
    yield PreExecutionError(data=None, errors=[GraphQLError(message, extensions={"code": code})])


@functools.lru_cache(maxsize=256)
def _describe(query: str | None, operation_name: str | None) -> tuple[str, str | None]:
    """The metric label of a document that ran (so it parses, and within the limits), and
    the name of its operation: the client's, or the one the document names (as Strawberry
    finds it for the HTTP log line)."""
    if query is None:
        return "invalid", operation_name
    try:
        document = parse(query)
    except GraphQLError:
        return "invalid", operation_name
    wanted = operation_name
    if wanted is None:
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) == 1 and operations[0].name is not None:
            wanted = operations[0].name.value
    return root_fields(document, wanted), wanted
