"""Tell the request log and the metrics what a GraphQL request was and how it went."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

MAX_LABELLED_FIELDS = 3


class OperationLabel(SchemaExtension):
    """Writes `graphql_operation` and `graphql_outcome` into the HTTP request's state.

    The metric label is made of the root fields (`signIn`, `twoFactorStatus+viewer`), which
    the schema bounds; the client's operationName goes to the log line only, since anyone
    can send any name and a label per name would grow without limit."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        request = getattr(context.context, "request", None)
        if request is None or request.scope.get("type") != "http":
            return
        state = request.scope.setdefault("state", {})
        outcome = outcome_of(context.result)
        # A document the schema refused names fields that do not exist: not a label.
        state["graphql_operation"] = (
            "invalid"
            if outcome == "rejected"
            else root_fields(context.graphql_document, context.operation_name)
        )
        state["graphql_operation_name"] = context.operation_name
        state["graphql_outcome"] = outcome


def root_fields(document: Any, operation_name: str | None) -> str:
    if document is None:
        return "invalid"
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        )
    ]
    if len(operations) != 1:
        return "invalid"
    names = sorted(
        {s.name.value for s in operations[0].selection_set.selections if isinstance(s, FieldNode)}
    )
    if not names or len(names) > MAX_LABELLED_FIELDS:
        return "multiple" if names else "invalid"
    return "+".join(names)


def outcome_of(result: Any) -> str:
    if result is None:
        return "error"
    if result.errors:
        # Request errors (parse, validation, variables) have no path: nothing ran.
        refused = result.data is None and all(error.path is None for error in result.errors)
        return "rejected" if refused else "error"
    data = result.data or {}
    payload_errors = any(isinstance(value, dict) and value.get("errors") for value in data.values())
    return "user_error" if payload_errors else "ok"
