"""Execution plans of trusted documents: what graphql-core works out anew for every request
of a document, kept across the requests that name a trusted document.

graphql-core's executor collects each object's selected fields afresh in every request
(`collect_subfields`: walking the selection set, grouping by response key) and sends every
field, an attribute read included, through the same path: the field's definition, a
resolve info, the resolver, then completion through non-null, list and leaf checks. For a
document whose selections carry no directive, the collected fields of a type depend only on
the document, so a plan keeps them; and a leaf field with Strawberry's default resolver (an
attribute read, no arguments) is read and serialized directly. Anything else, and any value
the direct read would not complete cleanly (null in a non-null field, an error, a value the
scalar refuses), takes graphql-core's own path, which makes the same answer or error.

Only documents of the trusted-documents manifest are planned, when a request names one (by
`documentId`, or by hash as Apollo's persisted-query link does) rather than sending its text:
they are a fixed set the server was given at start, so the plans held for the process's
life are bounded by it. A text document, or a persisted query a client registered, runs
prepared (schema/prepared.py) but unplanned: those are whatever clients send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLNonNull,
    GraphQLObjectType,
    Visitor,
    is_leaf_type,
    visit,
)
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList
from graphql.pyutils import Path, Undefined

from schema.executor import VerrouExecutor

# A leaf read directly: the resolver (called without info), the scalar's or enum's
# serializer, and whether the field is non-null.
Leaf = tuple[Callable[..., Any], Callable[[Any], Any], bool]
_UNPLANNED = object()


class ExecutionPlan:
    """What the requests of one parsed document share. Keys hold ids of the document's own
    nodes and of the schema's types: the plan keeps the document, so no id is reused while
    the plan lives."""

    __slots__ = ("document", "leaves", "subfields")

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self.subfields: dict[tuple[int, ...], CollectedFields] = {}
        self.leaves: dict[tuple[int, int], Leaf | object] = {}


class _Directives(Visitor):
    found = False

    def enter_directive(self, *_: Any) -> None:
        self.found = True


def plannable(document: DocumentNode) -> bool:
    """No directive anywhere: @skip and @include make the collected fields depend on the
    variables, @defer and @stream on delivery, and an operation's directive can change how
    errors propagate. Such documents run unplanned."""
    directives = _Directives()
    visit(document, directives)
    return not directives.found


class PlannedExecutor(VerrouExecutor):
    """Strawberry's executor with a plan: collected fields and leaf reads from it."""

    def __init__(self, *args: Any, plan: ExecutionPlan, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan = plan

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> CollectedFields:
        key = (id(return_type), *[id(details.node) for details in field_details_list])
        subfields = self.plan.subfields
        collected = subfields.get(key)
        if collected is None:
            collected = super().collect_subfields(return_type, field_details_list)
            subfields[key] = collected
        return collected

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        # The same key asked twice is one field (validation saw to it): its first node names it.
        leaves = self.plan.leaves
        key = (id(parent_type), id(field_details_list[0].node))
        leaf = leaves.get(key)
        if leaf is None:
            leaf = leaves[key] = self._leaf(parent_type, field_details_list)
        if leaf is not _UNPLANNED:
            value = _read(leaf, source, self.is_awaitable)  # type: ignore[arg-type]
            if value is not Undefined:
                return value
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _leaf(self, parent_type: GraphQLObjectType, field_details_list: FieldDetailsList) -> Any:
        """The field's direct read, or _UNPLANNED when it needs graphql-core's path."""
        field = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
        if field is None or self.middleware_manager:
            return _UNPLANNED
        resolve = field.resolve
        # Strawberry marks the resolver of a field without one (an attribute read, so no
        # arguments either).
        if resolve is None or getattr(resolve, "_is_default", False) is not True:
            return _UNPLANNED
        kind, non_null = field.type, isinstance(field.type, GraphQLNonNull)
        if non_null:
            kind = kind.of_type  # type: ignore[union-attr]
        if not is_leaf_type(kind):
            return _UNPLANNED
        return (resolve, kind.coerce_output_value, non_null)


def _read(leaf: Leaf, source: Any, is_awaitable: Callable[[Any], bool]) -> Any:
    """The completed value, or Undefined where graphql-core must complete it (it then
    raises, nulls or awaits exactly as for an unplanned document)."""
    resolve, serialize, non_null = leaf
    try:
        value = resolve(source, None)
        if value is None:
            return Undefined if non_null else None
        if value is Undefined or isinstance(value, Exception) or is_awaitable(value):
            return Undefined
        serialized = serialize(value)
    except Exception:  # graphql-core's path raises it again, located, with its field's path
        return Undefined
    return Undefined if serialized is None else serialized
