"""GraphQL over HTTP and WebSocket: Strawberry's ASGI view, made to follow the
GraphQL-over-HTTP spec (https://graphql.github.io/graphql-over-http/draft/).

Strawberry answers every request with `application/json` and 200. The spec adds the
`application/graphql-response+json` media type, chosen by the request's `Accept` header; with
it, a request error (the document does not parse or validate, or the variables do not
coerce: nothing was executed) is a 400 whose body has no `data` entry, so any HTTP client or
proxy can tell a refused request from an executed one. With `application/json` (a missing
`Accept`, `*/*`, or `application/json` itself) nothing changes: 200 with `data: null`, which
is what older clients expect.

The conformance suite of the npm package graphql-http runs against this view in CI
(conformance/audit.mjs).

A request may name its document rather than send it (persisted queries, trusted documents):
transport/persisted.py finds the text before Strawberry parses it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from resolvers.context import Context
from schema.fanout import FanOutSchema
from schema.request_errors import VALIDATION_FAILED
from services import socket_sessions
from services.errors import PersistedQueryNotAllowed
from services.persisted_queries import PersistedQueries, persisted_queries_from
from services.runtime import Runtime
from transport import request_json
from transport.browser import websocket_origin_allowed
from transport.context import authenticate_connection, build_context
from transport.persisted import (
    NOT_ALLOWED,
    NOT_FOUND,
    DocumentNotFound,
    ToRegister,
    Trusted,
    document_id_of,
    refusal,
    resolve_document,
)
from transport.session_watch import SessionWatch
from transport.sockets import NOT_ALLOWED_MESSAGE, LegacyWSHandler, TransportWSHandler
from webclient import graphiql_page

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
logger = logging.getLogger("verrou.http")
JSON = "application/json"

# What each media range of an Accept header means here. Wildcards get application/json:
# the spec asks for it (a client that sends `*/*` may not know the newer type).
_SERVED = {
    GRAPHQL_RESPONSE_JSON: GRAPHQL_RESPONSE_JSON,
    JSON: JSON,
    "application/*": JSON,
    "*/*": JSON,
}


def negotiate(accept: str | None) -> str:
    """The media type of the answer: the served type the Accept header ranks highest
    (q-value, then the order written). No header, or nothing served in it: application/json
    (the spec allows ignoring an Accept header it cannot satisfy; refusing with 406 would
    break clients that send something odd for no reason)."""
    best: tuple[float, int, str] | None = None
    for position, media_range in enumerate((accept or "").split(",")):
        kind, *parameters = (part.strip() for part in media_range.split(";"))
        served = _SERVED.get(kind.lower())
        if served is None:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                with contextlib.suppress(ValueError):
                    quality = float(value)
        if quality <= 0:
            continue
        # Highest q first; on a tie, the range written first.
        candidate = (-quality, position, served)
        if best is None or candidate < best:
            best = candidate
    return best[2] if best else JSON


def is_request_error(result: ExecutionResult) -> bool:
    """Parse, validation and variable errors come before execution: no data, and no error
    points at a field (execution errors all carry the path of their field)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


class VerrouGraphQL(GraphQL[Context, None]):
    # Each message's shape is checked before Strawberry's handlers read it (ws_messages.py),
    # then one session per socket, and every operation on it logged and counted (sockets.py).
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        settings = runtime.settings
        self.persisted: PersistedQueries = persisted_queries_from(
            trusted_documents=settings.trusted_documents,
            trusted_only=settings.trusted_documents_only,
            redis_url=settings.redis_url,
            max_entries=settings.persisted_queries_max_entries,
            max_bytes=settings.persisted_queries_max_bytes,
        )
        self.open_sockets: set[WebSocket] = set()
        # Closes a socket whose session ends while it is open (signOut, recovery, idle).
        schema = kwargs.get("schema")
        self.session_watch = SessionWatch(
            runtime.broker,
            schema.sent_before if isinstance(schema, FanOutSchema) else None,
            live_among=lambda ids: socket_sessions.live_among(runtime, ids),
            check_seconds=runtime.settings.socket_session_check_seconds,
        )

    def decode_json(self, data: str | bytes) -> object:
        # Lone surrogates and deep nesting are the client's bad JSON (400), not a crash.
        return request_json.decode(data)

    def encode_json(self, data: object) -> str:
        # The same compact JSON as json.dumps(separators=(",", ":")), several times faster.
        # Text, not orjson's bytes: Strawberry sends bytes over a WebSocket as a binary
        # frame, which browsers' GraphQL clients do not read.
        return orjson.dumps(data).decode()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return await build_context(request, response, self.runtime)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if isinstance(request, WebSocket):
            # Refused before it is accepted (HTTP 403): browsers apply no CORS to WebSockets.
            # Stricter than Strawberry's own check, which trusts an Origin matching Host.
            # (No local for the set of origins: this frame lasts as long as the socket.)
            origin = request.headers.get("origin")
            if not websocket_origin_allowed(origin, self.runtime.settings.trusted_origins):
                return await self.reject_websocket(request)
            self.open_sockets.add(request)
        else:
            request.state.graphql_media_type = negotiate(request.headers.get("accept"))
        try:
            plain = isinstance(request, Request) and context is UNSET and root_value is UNSET
            answered = await self._json_post(request) if plain else None
            response = answered or await super().run(request, context, root_value)
        except ClientDisconnect:
            # The client went away before its request was read (a closed tab, a load
            # generator stopping): nobody to answer, and nothing for the error log.
            logger.debug("client disconnected before its request was read")
            return Response(status_code=499)
        except DocumentNotFound as missing:
            # Always 200: Apollo's link reads this answer to send the text again.
            return refusal(request.state.graphql_media_type, missing.message, NOT_FOUND, 200)
        except PersistedQueryNotAllowed:
            media_type = request.state.graphql_media_type
            status = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
            return refusal(media_type, NOT_ALLOWED_MESSAGE, NOT_ALLOWED, status)
        finally:
            self.open_sockets.discard(request)
            self.session_watch.discard(request)
            # Strawberry leaves a parsed multipart form open: close its spooled upload files.
            if isinstance(request, Request):
                await request.close()
        if isinstance(request, Request):
            return self._as_negotiated(request, response)
        return response

    async def _json_post(self, request: Request) -> Response | None:
        """The common request, a POST of one JSON operation, served as Strawberry's run
        serves it (context, parse, execute, process, respond) without its general request
        adapter, content-type and stream-transport machinery. Anything else (GET, multipart,
        a batch, a streamed subscription, a malformed body): None, and Strawberry's run
        answers it, the body already read."""
        if request.method != "POST" or not _plain_json(request.scope):
            return None
        body = await request.body()
        if body.lstrip()[:1] != b"{":
            return None
        try:
            data = self.decode_json(body)
        except json.JSONDecodeError:
            return None
        request_data = _request_data(data)
        if request_data is None:
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        document_id = document_id_of(data) if isinstance(data, dict) else None
        resolved = await resolve_document(request_data, document_id, self.persisted)
        result = await self._execute(request, context, resolved, get=False)
        response_data = await self.process_result(request, result)
        return self.create_response(response_data=response_data, sub_response=sub_response)

    def _as_negotiated(self, request: Request, response: Response) -> Response:
        """Give a JSON result the negotiated media type and, for a request error under
        application/graphql-response+json, its 400 (process_result marked it)."""
        if response.media_type != JSON:
            return response  # the GraphiQL page or a streamed (multipart, SSE) response
        media_type: str = request.state.graphql_media_type
        if media_type == JSON:
            return response  # as it always was: 200, even with request errors
        response.media_type = media_type
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        status = getattr(request.state, "graphql_status", None)
        if status is not None and response.status_code == 200:
            response.status_code = status
        return response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        processed = await super().process_result(request, result)
        if getattr(
            request.state, "graphql_media_type", JSON
        ) == GRAPHQL_RESPONSE_JSON and is_request_error(result):
            # Nothing was executed: the spec's way to say so is no `data` entry at all.
            processed.pop("data", None)
            request.state.graphql_status = 400
        return processed

    # --- The HTTP request path: every shape of request is a 4xx or a request error. ---

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming its document (a persisted query's hash, a documentId) has no `query`
        # either, and Apollo's link sends it with `Accept: */*`: it is a request, not a page.
        params = request.query_params
        if any(name in params for name in ("extensions", "documentId", "doc_id")):
            return False
        return super().should_render_graphql_ide(request)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        # Strawberry reads a JSON body with `data.get(...)`: valid JSON that is not an object
        # (a number, a string, true, null) was a 500. Valid JSON starts with `{` exactly when
        # it is an object, and with `[` when it is a list (a batch: refused with 400 below).
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and "application/json" in content_type:
            start = (await request.get_body()).lstrip(b" \t\r\n")[:1]
            if start not in (b"{", b"["):
                raise HTTPException(400, "The request body must be a JSON object")
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            return data  # a batch: refused by Strawberry's check (batching is off)
        if request.method == "GET":
            document_id = document_id_of(request.query_params)
        elif "application/json" in content_type:
            # Strawberry keeps only the keys it knows: the id is read from the body again,
            # when the body names one (most requests do not, and are not decoded twice).
            raw = await request.get_body()
            body = self.decode_json(raw) if b'"documentId"' in raw or b'"doc_id"' in raw else {}
            document_id = document_id_of(body) if isinstance(body, dict) else None
        else:
            document_id = None  # multipart: the upload's document is sent in full
        return await resolve_document(data, document_id, self.persisted)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, less subscriptions: over HTTP one would run its resolver as a
        query's (a masked error). Here it is a request error: nothing is executed. A persisted
        query's text is stored under its hash once it has run (transport/persisted.py)."""
        return await self._execute(
            request, context, request_data, get=request_adapter.method == "GET"
        )

    async def _execute(
        self, request: Request, context: Context, request_data: GraphQLRequestData, *, get: bool
    ) -> ExecutionResult:
        allowed = {OperationType.QUERY} if get else {OperationType.QUERY, OperationType.MUTATION}
        # VerrouSchema's own keyword (schema/build.py): a manifest document named by its id
        # or hash runs with its execution plan.
        planned: dict[str, Any] = {"planned": True} if isinstance(request_data, Trusted) else {}
        try:
            result = await self.schema.execute(
                request_data.query,
                root_value=None,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
                **planned,
            )
        except CannotGetOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason()) from error
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request") from error
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.MUTATION:
                # A mutation over GET: 405 with Allow, as the spec says, not a bare 400.
                raise _MethodNotAllowed(error.as_http_error_reason("GET")) from error
            refused = GraphQLError(
                "Subscriptions are served over WebSocket only (graphql-transport-ws at /graphql)",
                extensions={"code": VALIDATION_FAILED},
            )
            return ExecutionResult(data=None, errors=[refused])
        text = request_data.query
        if isinstance(request_data, ToRegister) and text and not is_request_error(result):
            await self.persisted.remember(request_data.sha256, text)
        return result

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except _MethodNotAllowed as error:
            response = PlainTextResponse(error.reason, status_code=405, headers={"Allow": "POST"})
        except HTTPException as error:
            response = PlainTextResponse(error.reason, status_code=error.status_code)
        await response(scope, receive, send)

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        """The GraphQL multipart request spec, with an error that names what is wrong
        rather than Strawberry's "File(s) missing in form data" for every mistake."""
        try:
            form = await request.get_form_data()
        except ValueError as error:
            raise HTTPException(400, "Unable to parse the multipart body") from error
        operations = _json_field(form.form.get("operations"), "operations")
        files_map = _json_field(form.form.get("map"), "map")
        if not isinstance(operations, dict | list):
            raise HTTPException(400, "multipart field `operations` must be a JSON object")
        if not isinstance(files_map, dict):
            raise HTTPException(
                400, "multipart field `map` must be a JSON object of file field → paths"
            )
        for key, paths in files_map.items():
            if key not in form.files:
                raise HTTPException(400, f"`map` names file field {key!r}, absent from the request")
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise HTTPException(
                    400, f'`map` entry {key!r} must be a list of paths such as "variables.file"'
                )
            for path in paths:
                if not _points_at_null(operations, path):
                    raise HTTPException(
                        400, f"`map` path {path!r} is not a null value in `operations`"
                    )
        return await super().parse_multipart(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        # Our own page and vendored assets: Strawberry's loads GraphiQL from a CDN.
        return graphiql_page()

    async def going_away(self) -> None:
        """Close every WebSocket with 1001 (going away), so clients reconnect elsewhere."""
        for socket in list(self.open_sockets):
            # Already closing or closed; or its client has just gone (Starlette answers a
            # send to a socket uvicorn has lost with WebSocketDisconnect): one such socket
            # must not stop the others' close, nor the shutdown after it.
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await socket.close(code=1001, reason="server shutting down")

    async def on_ws_connect(self, context: Context) -> None:
        if not await authenticate_connection(context):
            # graphql-transport-ws closes with 4403; legacy graphql-ws sends
            # connection_error, then closes.
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": "Unauthorized"})
        session = context.session
        if session is not None and isinstance(context.request, WebSocket):
            lifetime = (session.expires_at - self.runtime.clock.now()).total_seconds()
            self.session_watch.add(context.request, session.account_id, session.id, lifetime)


# The media ranges of an Accept header that ask for a streamed answer (SSE, multipart):
# Strawberry's run picks the transport of those.
_STREAMED = (b"multipart", b"event-stream")


def _plain_json(scope: Scope) -> bool:
    """Content-Type application/json (any parameters), Accept asking for no stream."""
    content_type = accept = b""
    for name, value in scope["headers"]:
        if name == b"content-type" and not content_type:
            content_type = value
        elif name == b"accept" and not accept:
            accept = value
    media_type = content_type.partition(b";")[0].strip().lower()
    lowered = accept.lower()
    return media_type == b"application/json" and not any(kind in lowered for kind in _STREAMED)


_REQUEST_KEYS = frozenset(
    {"query", "variables", "operationName", "extensions", "documentId", "doc_id"}
)


def _request_data(data: object) -> GraphQLRequestData | None:
    """One operation whose members have the types Strawberry's parse_http_body accepts;
    None for anything it would refuse or read differently."""
    if not isinstance(data, dict) or not data.keys() <= _REQUEST_KEYS:
        return None
    query, variables = data.get("query"), data.get("variables")
    name, extensions = data.get("operationName"), data.get("extensions")
    if not (
        isinstance(query, str | None)
        and isinstance(variables, dict | None)
        and isinstance(name, str | None)
        and isinstance(extensions, dict | None)
    ):
        return None
    return GraphQLRequestData(
        query=query,
        variables=variables,
        operation_name=name,
        extensions=extensions,
        protocol="http",
    )


class _MethodNotAllowed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _json_field(value: object, name: str) -> object:
    if value is None:
        raise HTTPException(400, f"multipart request without its `{name}` field")
    if not isinstance(value, str | bytes):
        raise HTTPException(400, f"multipart field `{name}` must be JSON text, not a file")
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise HTTPException(400, f"multipart field `{name}` is not valid JSON") from error


def _points_at_null(operations: object, path: str) -> bool:
    """Does the dotted `path` (e.g. "variables.input.identityDocument", "0.variables.file")
    lead to a null in the operations? Uploads replace exactly those nulls."""
    node = operations
    for key in path.split("."):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False
    return node is None


__all__ = ["VerrouGraphQL", "negotiate"]
