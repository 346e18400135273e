"""The executable schema, with the extensions its settings ask for."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, MaskErrors, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from schema.observability import OperationLabel
from schema.root import Mutation, Query, Subscription
from schema.types import Account, Notification, RecoveryRequest, SecurityEvent


def should_mask(error: GraphQLError) -> bool:
    """Mask execution errors that come from an exception; keep request errors (parse,
    validation, variables: no path) and errors resolvers raise for clients on purpose."""
    if error.path is None:
        return False
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    # Factories, not instances: Strawberry builds fresh extensions per request (the parse
    # and validation caches live at module level, so they still span requests).
    extensions: list[object] = [
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: MaskErrors(should_mask_error=should_mask),
        OperationLabel,
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Account, Notification, SecurityEvent, RecoveryRequest],
        extensions=extensions,  # type: ignore[arg-type]
        config=StrawberryConfig(auto_camel_case=True),
    )
