"""Codes for request errors: a client can tell a document it must fix from a failure.

graphql-core's parse, validation and variable errors carry a message and no code. This
extension gives each one `extensions.code` (the names Apollo Server uses, which client
libraries already know), unless a rule gave it one (the request limits do):

- GRAPHQL_PARSE_FAILED: the document is not GraphQL;
- GRAPHQL_VALIDATION_FAILED: it does not match the schema (a field that does not exist, a
  missing argument...);
- BAD_USER_INPUT: its variables do not fit their declared types.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import ParserCache, SchemaExtension

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"


def _tag(errors: Iterable[GraphQLError] | None, code: str) -> None:
    for error in errors or ():
        if error.path is None and not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": code}


class RequestErrorCodes(SchemaExtension):
    """Validation errors are known as such here, right after validation runs."""

    def on_validate(self) -> Iterator[None]:
        yield
        _tag(self.execution_context.pre_execution_errors, VALIDATION_FAILED)


def tag_request_errors(errors: Iterable[GraphQLError]) -> None:
    """For the schema's process_errors, which sees every error of every path (a parse
    error escapes the extensions' hooks). What is left without a code and a path after
    validation failed on the variables: graphql-core coerces them before executing."""
    for error in errors:
        _tag([error], PARSE_FAILED if isinstance(error, GraphQLSyntaxError) else BAD_USER_INPUT)


class TolerantParserCache(ParserCache):
    """Strawberry's ParserCache parses in its hook, outside the try that turns a syntax
    error into the operation's error: over HTTP a catch-all caught it, but over WebSocket
    (Schema.stream) the error escaped from the socket's task, which then never answered the
    operation. A document that does not parse is left unparsed here, for Strawberry to parse
    again inside that try, and answer GRAPHQL_PARSE_FAILED."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
