"""A JSON request to /graphql is bounded far below the upload limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from transport.middleware import BodySizeLimit


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
