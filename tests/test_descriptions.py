"""The schema documents itself: every type, field, argument, input field and enum value has
a description; each says at least what the contract says; every ErrorCode says when it
happens and what a client should do. (docs/errors.md's table is checked against the enum by
tests/test_docs.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)
from graphql import build_schema as parse_sdl

from schema.build import build_schema
from schema.enums import ErrorCode

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT.parent / "shared" / "contract" / "schema.graphql"
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def described_parts(schema: GraphQLSchema) -> dict[str, str | None]:
    """Every documentable part of the schema, by a readable coordinate, with its description.
    Introspection types and the built-in scalars are GraphQL's, not ours."""
    parts: dict[str, str | None] = {}
    for name, named in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN_SCALARS:
            continue
        parts[name] = named.description
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                parts[f"{name}.{field_name}"] = field.description
                for argument_name, argument in field.args.items():
                    parts[f"{name}.{field_name}({argument_name}:)"] = argument.description
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                parts[f"{name}.{field_name}"] = input_field.description
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                parts[f"{name}.{value_name}"] = value.description
    return parts


def test_the_walk_sees_every_kind_of_part() -> None:
    """Guards the walk itself: an empty or partial walk would pass the next test."""
    parts = described_parts(build_schema()._schema)
    for coordinate in [
        "Account",
        "Account.notifications",
        "Account.notifications(unreadOnly:)",
        "Query.node(id:)",
        "Mutation.signIn(input:)",
        "SignUpInput.billingContactEmail",
        "ErrorCode.RATE_LIMITED",
        "Upload",
        "DateTime",
    ]:
        assert coordinate in parts
    assert "String" not in parts and "__Type" not in parts


def test_every_part_of_the_schema_has_a_description() -> None:
    parts = described_parts(build_schema()._schema)
    missing = [coordinate for coordinate, description in parts.items() if not description]
    assert missing == []


def normalise(text: str) -> str:
    return " ".join(text.split()).rstrip(".").lower()


def test_descriptions_say_at_least_what_the_contract_says() -> None:
    if not CONTRACT.exists():
        pytest.skip(f"no contract at {CONTRACT}: the comparison needs ../shared beside the repo")
    ours = described_parts(build_schema()._schema)
    theirs = described_parts(parse_sdl(CONTRACT.read_text()))
    short = {
        coordinate: (description, ours.get(coordinate))
        for coordinate, description in theirs.items()
        if description and normalise(description) not in normalise(ours.get(coordinate) or "")
    }
    assert short == {}


# "When": a situation; "what to do": an imperative or a "do not" for the client.
ADVICE = re.compile(
    r"\b(sign in|retry|refresh|wait|start over|call|ask|let the person|fix|offer|"
    r"do not|show|send|hide|go back)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda code: code.name)
def test_every_error_code_says_when_and_what_to_do(code: ErrorCode) -> None:
    value = build_schema()._schema.type_map["ErrorCode"].values[code.name]  # type: ignore[attr-defined]
    description: str = value.description
    sentences = [part for part in re.split(r"(?<=[.!?])\s+", description) if part]
    assert len(sentences) >= 2, f"{code.name}: say when it happens, then what to do"
    assert ADVICE.search(" ".join(sentences[1:])), f"{code.name}: no advice for the client"


def test_descriptions_say_at_least_what_the_planned_sections_say() -> None:
    """planned.graphql's descriptions of what is built (sections A and B) are in ours."""
    from tests.test_contract import PLANNED, planned_contract

    if not PLANNED.exists():
        pytest.skip(f"no planned contract at {PLANNED}: needs ../shared beside the repo")
    ours = described_parts(build_schema()._schema)
    theirs = described_parts(parse_sdl(planned_contract()))
    short = {
        coordinate: (description, ours.get(coordinate))
        for coordinate, description in theirs.items()
        if description and normalise(description) not in normalise(ours.get(coordinate) or "")
    }
    assert short == {}
