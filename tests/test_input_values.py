"""Input objects built by a table per type (schema/input_values.py): every input of the schema
gets one, and each builds what Strawberry's own field-by-field conversion builds."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Any

import pytest
import strawberry
from graphql import GraphQLInputObjectType
from strawberry.relay import GlobalID
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import InputContext, convert_argument
from strawberry.types.base import StrawberryObjectDefinition, StrawberryOptional

from schema import input_values
from schema.build import build_schema
from schema.input_values import InputBuilder
from tests.helpers import Api

SCHEMA = build_schema()


def input_definitions(schema: strawberry.Schema) -> dict[str, StrawberryObjectDefinition]:
    found = {}
    for graphql_type in schema._schema.type_map.values():
        if isinstance(graphql_type, GraphQLInputObjectType):
            definition = graphql_type.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
            found[graphql_type.name] = definition
    return found


def context(schema: strawberry.Schema) -> InputContext:
    return InputContext(
        info=None,
        config=schema.config,
        scalar_registry=schema.schema_converter.scalar_registry,
        path=("input",),
    )


def strawberrys_own(
    schema: strawberry.Schema, definition: StrawberryObjectDefinition, value: dict[str, Any]
) -> Any:
    """What Strawberry's conversion makes of `value`, with the builder out of the way."""
    builder, definition.from_input = definition.from_input, None
    try:
        return convert_argument(
            value, definition.origin, schema.schema_converter.scalar_registry, schema.config
        )
    finally:
        definition.from_input = builder


def values_of(definition: StrawberryObjectDefinition) -> Iterator[tuple[str, dict[str, Any]]]:
    """Input values as graphql-core hands them over: every field given (a leaf as an object
    of its own, which both conversions must pass through untouched; a list as a list of
    them), the non-null fields alone, each nullable field given null, each list empty."""
    registry = SCHEMA.schema_converter.scalar_registry
    names, lists, nullable = {}, set(), set()
    for field in definition.fields:
        names[field.python_name] = SCHEMA.config.name_converter.from_field(field)
        resolved = field.resolve_type(type_definition=definition)
        if input_values._leaf_kind(resolved, registry) == "list":
            lists.add(field.python_name)
        if isinstance(resolved, StrawberryOptional):
            nullable.add(field.python_name)
    every = {
        names[python]: [object(), object()] if python in lists else object() for python in names
    }
    yield "every field", every
    yield "non-null fields", {names[p]: every[names[p]] for p in names if p not in nullable}
    for python in nullable:
        yield f"{names[python]} null", {**every, names[python]: None}
    for python in lists:
        yield f"{names[python]} empty", {**every, names[python]: []}


def cases() -> Iterator[Any]:
    for name, definition in sorted(input_definitions(SCHEMA).items()):
        for case, value in values_of(definition):
            yield pytest.param(name, value, id=f"{name}: {case}")


def test_every_input_of_the_schema_is_built_by_its_table() -> None:
    definitions = input_definitions(SCHEMA)
    assert len(definitions) >= 25
    unbuilt = [n for n, d in definitions.items() if not isinstance(d.from_input, InputBuilder)]
    assert unbuilt == []


@pytest.mark.parametrize(("name", "value"), list(cases()))
def test_the_table_builds_what_strawberry_builds(name: str, value: dict[str, Any]) -> None:
    definition = input_definitions(SCHEMA)[name]
    assert isinstance(definition.from_input, InputBuilder)
    ours = definition.from_input(definition.origin, value, context(SCHEMA))
    theirs = strawberrys_own(SCHEMA, definition, value)
    assert type(ours) is type(theirs) is definition.origin
    assert vars(ours) == vars(theirs)
    for field, given in value.items():
        python = next(
            f.python_name
            for f in definition.fields
            if SCHEMA.config.name_converter.from_field(f) == field
        )
        if isinstance(given, list):
            # A copy, as Strawberry makes: graphql-core's default list is shared by requests.
            assert getattr(ours, python) == given
            assert getattr(ours, python) is not given


@strawberry.enum
class Shade(Enum):
    LIGHT = "light"
    DARK = "dark"


@strawberry.input
class Nested:
    word: str


@strawberry.input
class Leaves:
    word: str
    shade: Shade
    words: list[str] | None = None
    maybe_shades: list[Shade | None] | None = strawberry.field(default_factory=list)
    count: int | None = 3
    # No default: Strawberry makes it None when the value leaves it out.
    note: str | None


@strawberry.input
class WithNested:
    inner: Nested


@strawberry.input
class WithGlobalId:
    id: GlobalID


@strawberry.input
class WithMaybe:
    word: strawberry.Maybe[str]


@strawberry.input(one_of=True)
class OneOf:
    word: str | None = strawberry.UNSET
    number: int | None = strawberry.UNSET


@strawberry.type
class Query:
    @strawberry.field
    def echo(
        self,
        leaves: Leaves,
        nested: WithNested,
        global_id: WithGlobalId,
        maybe: WithMaybe,
        one_of: OneOf,
    ) -> str:
        return "ok"


def test_only_inputs_of_leaves_get_a_table() -> None:
    schema = strawberry.Schema(query=Query)
    built = set(input_values.install(schema))
    # A nested input, a GlobalID, a Maybe and a OneOf input keep Strawberry's conversion.
    assert built == {"Leaves", "Nested"}


def test_defaults_and_enums_as_strawberry_makes_them() -> None:
    schema = strawberry.Schema(query=Query)
    input_values.install(schema)
    definition = Leaves.__strawberry_definition__
    assert isinstance(definition.from_input, InputBuilder)
    value = {"word": "w", "shade": Shade.DARK, "maybeShades": [Shade.LIGHT, None]}
    ours = definition.from_input(Leaves, value, context(schema))
    assert vars(ours) == vars(strawberrys_own(schema, definition, value))
    assert (ours.words, ours.maybe_shades, ours.count, ours.note) == (
        None,
        [Shade.LIGHT, None],
        3,
        None,
    )


async def test_a_sign_in_receives_its_built_input(api: Api) -> None:
    """Through the app: signIn's input reaches the service with each of its fields."""
    await api.sign_up()
    assert (await api.sign_in(password="not the password"))["errors"][0]["code"] == (
        "INVALID_CREDENTIALS"
    )
    signed_in = await api.sign_in()
    assert signed_in["errors"] == []
    assert signed_in["session"]["account"] == {"email": "alice@example.com"}
