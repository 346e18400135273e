"""Plain fields read directly, for the execution plans of trusted documents
(schema/planned.py).

graphql-core sends every field through the same path, an attribute read included: the
field's definition, a resolve info, the resolver, then completion through non-null, list
and leaf checks. A leaf field with Strawberry's default resolver (an attribute read, no
arguments) needs none of it when its value is plain: it is read and serialized here. An
object's selection is split once for a plan into those reads and the fields graphql-core
must execute (`split`); the executor reads the first in one loop and merges the two in the
selection's order (`in_order`). A value the direct read would not complete cleanly (null in
a non-null field, an error, a value the scalar refuses, something to await) reads as
Undefined, and the whole object then takes graphql-core's own path, which makes the same
answer or error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLSchema, is_leaf_type
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Undefined

# A leaf read directly: the resolver (called without info), the scalar's or enum's
# serializer, and whether the field is non-null.
Leaf = tuple[Callable[..., Any], Callable[[Any], Any], bool]
# An object selection (a grouped field set) split in two: the response names and reads of
# its fields read directly, and its other fields, which graphql-core executes.
Split = tuple[GroupedFieldSet, tuple[tuple[str, Leaf], ...], GroupedFieldSet]


def split(
    schema: GraphQLSchema, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
) -> Split:
    """The selection's fields read directly, and the others (in the selection's order)."""
    reads, rest = [], {}
    for name, field_details_list in grouped_field_set.items():
        leaf = leaf_of(schema, parent_type, field_details_list)
        if leaf is None:
            rest[name] = field_details_list
        else:
            reads.append((name, leaf))
    return (grouped_field_set, tuple(reads), rest)


def leaf_of(
    schema: GraphQLSchema, parent_type: GraphQLObjectType, field_details_list: FieldDetailsList
) -> Leaf | None:
    """The field's direct read, or None when it needs graphql-core's path."""
    field = schema.get_field(parent_type, field_details_list[0].node.name.value)
    if field is None:
        return None
    resolve = field.resolve
    # Strawberry marks the resolver of a field without one (an attribute read, so no
    # arguments either).
    if resolve is None or getattr(resolve, "_is_default", False) is not True:
        return None
    kind, non_null = field.type, isinstance(field.type, GraphQLNonNull)
    if non_null:
        kind = kind.of_type  # type: ignore[union-attr]
    if not is_leaf_type(kind):
        return None
    return (resolve, kind.coerce_output_value, non_null)


def read(leaf: Leaf, source: Any, is_awaitable: Callable[[Any], bool]) -> Any:
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


def in_order(
    grouped_field_set: GroupedFieldSet, reads: dict[str, Any], others: dict[str, Any]
) -> dict[str, Any]:
    """The object's fields in the order of its selection, as graphql-core gives them."""
    return {
        name: reads[name] if name in reads else others[name]
        for name in grouped_field_set
        if name in reads or name in others
    }
