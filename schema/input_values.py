"""Input objects built from their GraphQL values by a table made once per type.

Strawberry turns an input value into its class field by field, at every request
(`strawberry.types.arguments.convert_argument`): for each field it resolves the field's
type, turns its name into camelCase and walks a chain of type checks. For a field whose
type is a leaf (a scalar or an enum, optional or not, or a list of them) every one of those
steps has one answer per type, and the conversion returns the value as graphql-core gave it
(a list copied). `install` gives each input type made only of such fields a `from_input`
(the hook Strawberry offers an object definition to build its own value) holding those
answers: the GraphQL name and Python name of each field, which fields are lists, and the
implicit None of each field without a default. An input with any other field (a nested
input, `Maybe`, `GlobalID`, a lazy type, a OneOf input) keeps Strawberry's conversion.

The builder does what Strawberry's conversion does for these types, in the same order, so
a resolver cannot tell them apart (tests/test_input_values.py compares them on every input
of the schema). Strawberry's conversion was about a quarter of the GraphQL work of a
`signIn` (bench/README.md). A definition belongs to its class, so the table follows the
name converter of the last schema installed: Verrou has one configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import strawberry
from graphql import GraphQLInputObjectType
from strawberry.relay import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

# (GraphQL name, Python name, whether the value is a list Strawberry copies)
FieldTable = tuple[tuple[str, str, bool], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class InputBuilder:
    """A `from_input` for one input type (see the module's docstring)."""

    fields: FieldTable
    # Each field without a default starts as None: graphql-core has checked that the
    # required ones are there, so only nullable ones stay None.
    implicit: Mapping[str, None]

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        kwargs: dict[str, Any] = dict(self.implicit)
        for graphql_name, python_name, is_list in self.fields:
            if graphql_name in value:
                given = value[graphql_name]
                # As Strawberry: a list is copied, even empty (graphql-core hands every
                # request that omits it the same default list); None and UNSET pass through.
                if is_list and given is not None and given is not UNSET:
                    given = list(given)
                kwargs[python_name] = given
        return cls(**kwargs)


def install(schema: strawberry.Schema) -> list[str]:
    """Give each input type of `schema` made only of leaf fields its builder; the names of
    the types that got one. A type that already builds its own values is left alone."""
    registry = schema.schema_converter.scalar_registry
    name_of = schema.config.name_converter.from_field
    installed = []
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLInputObjectType):
            continue
        definition = graphql_type.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(definition, StrawberryObjectDefinition) or not definition.is_input:
            continue
        if definition.is_one_of or (
            definition.from_input is not None
            and not isinstance(definition.from_input, InputBuilder)
        ):
            continue
        table = []
        for field in definition.fields:
            kind = _leaf_kind(field.resolve_type(type_definition=definition), registry)
            if kind is None:
                break
            table.append((name_of(field), field.python_name, kind == "list"))
        else:
            implicit = dict.fromkeys(
                field.python_name
                for field in definition.fields
                if field.default_value is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            definition.from_input = InputBuilder(tuple(table), implicit)
            installed.append(graphql_type.name)
    return installed


def _leaf_kind(type_: StrawberryType | type, registry: Mapping[object, Any]) -> str | None:
    """What Strawberry does with a value of this type: returns it as it is ("leaf"),
    copies it ("list"), or converts it some other way (None)."""
    if isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe):
        type_ = type_.of_type
    if isinstance(type_, StrawberryList):
        return "list" if _leaf_kind(type_.of_type, registry) == "leaf" else None
    return "leaf" if _is_leaf(type_, registry) else None


def _is_leaf(type_: StrawberryType | type, registry: Mapping[object, Any]) -> bool:
    if type_ is GlobalID or isinstance(type_, (StrawberryMaybe, StrawberryList, LazyType)):
        return False
    if isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_):
        return True
    return is_scalar(type_, registry) and not has_object_definition(type_)
