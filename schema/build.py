"""The executable schema, with the extensions its settings ask for."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.observability import OperationLabel
from schema.root import Mutation, Query, Subscription
from schema.text_rules import NoNulInStrings
from schema.types import Account, Notification, RecoveryRequest, SecurityEvent

logger = logging.getLogger("verrou.graphql")


def should_mask(error: GraphQLError) -> bool:
    """Mask execution errors that come from an exception; keep request errors (parse,
    validation, variables: no path) and errors resolvers raise for clients on purpose."""
    if error.path is None:
        return False
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


class VerrouSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log unexpected failures only, by type and path. Strawberry's default logs every
        error's message, and a request error's message repeats the input it refused, a
        password included; those errors are the client's, and go back to the client."""
        for error in errors:
            if should_mask(error):
                path = ".".join(str(part) for part in error.path or ())
                logger.error("unexpected error in %s", path, exc_info=error.original_error)


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    # Factories, not instances: Strawberry builds fresh extensions per request (the parse
    # and validation caches live at module level, so they still span requests).
    extensions: list[object] = [
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: MaskErrors(should_mask_error=should_mask),
        OperationLabel,
        lambda: AddValidationRules([NoNulInStrings]),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return VerrouSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Account, Notification, SecurityEvent, RecoveryRequest],
        extensions=extensions,  # type: ignore[arg-type]
        config=StrawberryConfig(auto_camel_case=True),
    )
