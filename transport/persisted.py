"""A request's document when it names one instead of sending it: Apollo's automatic persisted
queries (`extensions.persistedQuery.sha256Hash`), the GraphQL-over-HTTP proposal's
`documentId` and Relay's `doc_id` (services/persisted_queries.py keeps the documents).

Run before Strawberry parses anything, over POST and GET alike. A hash the server does not
know answers what Apollo Client's persisted-query link waits for, HTTP 200 and
`{"errors": [{"message": "PersistedQueryNotFound", "extensions": {"code":
"PERSISTED_QUERY_NOT_FOUND"}}]}`, so that it sends the same request again with the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cross_web import HTTPException
from starlette.responses import Response
from strawberry.http import GraphQLRequestData

from services.persisted_queries import HashMismatch, PersistedQueries

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass
class ToRegister(GraphQLRequestData):
    """A persisted query's text sent with its hash: stored once it has run, so that a text
    that does not parse or validate never takes a place in the bounded store."""

    sha256: str = ""


@dataclass
class Trusted(GraphQLRequestData):
    """A request that named a document of the trusted-documents manifest (by its id or its
    hash) rather than sending its text: it runs with the document's execution plan
    (schema/planned.py)."""


class DocumentNotFound(Exception):
    """The id or hash names no document this server knows: the client may send the text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def document_id_of(request: Mapping[str, object]) -> object:
    """The proposal's `documentId`, or Relay's `doc_id`; None when the request has neither."""
    return request["documentId"] if "documentId" in request else request.get("doc_id")


async def resolve_document(
    data: GraphQLRequestData, document_id: object, persisted: PersistedQueries
) -> GraphQLRequestData:
    """`data` with the text of the document it names, once the text may run. Raises
    DocumentNotFound, PersistedQueryNotAllowed, or HTTPException (400) for a malformed id."""
    if document_id is not None:
        return _named(data, await _by_document_id(data, document_id, persisted), persisted)
    persisted_query = (data.extensions or {}).get("persistedQuery")
    if persisted_query is not None:
        sha256 = _sha256_of(persisted_query)
        if data.query is None:
            text = await persisted.by_hash(sha256)
            if text is None:
                raise DocumentNotFound("PersistedQueryNotFound")
            return _named(data, text, persisted)
        try:
            persisted.check_registration(sha256, data.query)
        except HashMismatch as error:
            raise HTTPException(400, "provided sha does not match query") from error
        return ToRegister(**vars(data), sha256=sha256)
    if data.query is not None:
        persisted.check_allowed(data.query)
    return data


def _named(data: GraphQLRequestData, text: str, persisted: PersistedQueries) -> GraphQLRequestData:
    """A request that named its document: Trusted when the manifest has the text (not one a
    client registered)."""
    if persisted.is_trusted(text):
        return Trusted(**{**vars(data), "query": text})
    return replace(data, query=text)


async def _by_document_id(
    data: GraphQLRequestData, document_id: object, persisted: PersistedQueries
) -> str:
    if not isinstance(document_id, str) or not document_id:
        raise HTTPException(400, "`documentId` must be a non-empty string")
    if data.query is not None:
        raise HTTPException(400, "Send `query` or `documentId`, not both")
    text = persisted.trusted_document(document_id)
    if text is None and _SHA256.fullmatch(document_id.removeprefix("sha256:")):
        text = await persisted.by_hash(document_id.removeprefix("sha256:").lower())
    if text is None:
        raise DocumentNotFound(f"No trusted document has the id {document_id[:80]!r}")
    return text


def _sha256_of(persisted_query: object) -> str:
    if not isinstance(persisted_query, dict) or persisted_query.get("version") != 1:
        raise HTTPException(400, "`extensions.persistedQuery` must be {version: 1, sha256Hash}")
    sha256 = persisted_query.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise HTTPException(400, "`persistedQuery.sha256Hash` must be 64 hexadecimal digits")
    return sha256.lower()


def refusal(media_type: str, message: str, code: str, status: int) -> Response:
    """A request error answered before Strawberry saw the request: nothing was executed, so
    no `data` entry (a request error under application/graphql-response+json is a 400; a miss
    is always 200, for Apollo's link)."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    # Never cached by a proxy for a GET: the retry with the text is the same URL plus `query`,
    # and a cached refusal would outlive a manifest's update.
    return Response(json.dumps(body), status, {"Cache-Control": "no-store"}, media_type=media_type)
