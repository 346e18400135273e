"""A JSON request to /graphql is bounded far below the upload limit."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope


def graphql_json_limit(limit: int) -> Callable[[Scope, bytes], int | None]:
    """BodySizeLimit's narrower limit for a non-multipart POST to /graphql (JSON: a document
    and its variables), counted as the body streams in, so a client cannot make the server
    read and decode megabytes of JSON to carry a document it would then refuse. Multipart
    requests (the recovery uploads) keep the app-wide limit."""

    def narrower(scope: Scope, content_type: bytes) -> int | None:
        if (
            scope["method"] == "POST"
            and scope["path"] == "/graphql"
            and not content_type.decode("latin-1").strip().lower().startswith("multipart/")
        ):
            return limit
        return None

    return narrower


def graphql_body_limit(max_document_bytes: int, max_variables_bytes: int) -> int:
    # JSON may spell a character in up to six bytes (\u00e9); the rest is the envelope
    # (operationName, extensions).
    return 4 * (max_document_bytes + max_variables_bytes) + 64 * 1024
