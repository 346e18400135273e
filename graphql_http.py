"""What the GraphQL view answers at the HTTP level, beyond Strawberry's defaults."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from middleware import BodySizeLimit


class QueriesOnlyOverGet:
    """A mutation sent with GET is 405 Method Not Allowed (with `Allow: POST`), not
    Strawberry's 400: the method is what is wrong. GET requests can be triggered by a link
    or an image on another site, so nothing that changes state may run on one."""

    async def execute_single(self, **kwargs: Any) -> ExecutionResult:
        try:
            result: ExecutionResult = await super().execute_single(**kwargs)  # type: ignore[misc]
        except HTTPException as error:
            refused = error.__cause__
            if not (
                isinstance(refused, InvalidOperationTypeError)
                and refused.operation_type is OperationType.MUTATION
                and kwargs["request_adapter"].method == "GET"
            ):
                raise
            response = kwargs["sub_response"]
            response.status_code = 405
            response.headers["Allow"] = "POST"
            return ExecutionResult(
                data=None,
                errors=[GraphQLError(error.reason, extensions={"code": "METHOD_NOT_ALLOWED"})],
            )
        return result


class GraphQLBodyLimit:
    """Bounds a non-multipart POST to /graphql (JSON: a document and its variables) far
    below the upload limit, counting as the body streams in, so a client cannot make the
    server read and decode megabytes of JSON to carry a document it would then refuse.
    Multipart requests (the recovery uploads) keep the app-wide BodySizeLimit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limited = BodySizeLimit(app, limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == "/graphql"
            and not _content_type(scope).startswith("multipart/")
        ):
            await self.limited(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def graphql_body_limit(max_document_bytes: int, max_variables_bytes: int) -> int:
    # JSON may spell a character in up to six bytes (\u00e9); the rest is the envelope
    # (operationName, extensions).
    return 4 * (max_document_bytes + max_variables_bytes) + 64 * 1024


def _content_type(scope: Scope) -> str:
    raw: bytes = dict(scope["headers"]).get(b"content-type", b"")
    return raw.decode("latin-1").strip().lower()
