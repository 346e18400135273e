"""Domain errors and the contract agree: every code a service can raise is an `ErrorCode`,
every message key it raises with has a text, and every input it names exists in the schema.

A code missing from the enum, or a key missing from the catalogue, would turn a refusal into
an unexpected (masked) error; a misspelt field name would put the message next to no box.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from graphql import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from resolvers.error_fields import api_path
from schema.build import build_schema
from schema.enums import ErrorCode
from services import errors
from services.errors import WHOLE_INPUT, VerrouError
from services.i18n import MESSAGES

ROOT = Path(__file__).resolve().parents[1]
# Where domain errors are raised: the services, and the resolvers that refuse input themselves.
RAISING = sorted([*(ROOT / "services").glob("*.py"), *(ROOT / "resolvers").glob("*.py")])
ERROR_CLASSES = {name for name, value in vars(errors).items() if isinstance(value, type)}
# Services that take the field name as their second argument (services/validation.py and
# the like): `validation.email(value, "billing_contact_email")`.
FIELD_SECOND = {
    "email",
    "new_password",
    "optional_text",
    "read_checked",
    "decode_cursor",
    "_free_text",
}


def error_classes(base: type[VerrouError] = VerrouError) -> list[type[VerrouError]]:
    found = [base]
    for subclass in base.__subclasses__():
        found.extend(error_classes(subclass))
    return found


def raised(path: Path) -> list[tuple[str, ast.Call]]:
    """(class name, call) of every construction of a services.errors class in a module."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ERROR_CLASSES:
                calls.append((node.func.id, node))
    return calls


def message_keys() -> set[str]:
    keys = set()
    for path in RAISING:
        for _, call in raised(path):
            if call.args and isinstance(call.args[0], ast.Constant):
                keys.add(call.args[0].value)
    return keys


def field_names() -> set[str]:
    """Every domain field name written literally where a domain error gets it."""
    names = set()
    for path in RAISING:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "field" and isinstance(keyword.value, ast.Constant):
                    names.add(keyword.value.value)
            func = node.func
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if callee in FIELD_SECOND and len(node.args) > 1:
                if isinstance(node.args[1], ast.Constant):
                    names.add(node.args[1].value)
    return names


def schema_inputs() -> set[str]:
    """Names a client sends: input object fields and field arguments, in camelCase."""
    names = set()
    for named in build_schema()._schema.type_map.values():  # type: ignore[attr-defined]
        if isinstance(named, GraphQLInputObjectType):
            names.update(named.fields)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field in named.fields.values():
                names.update(field.args)
    return names


@pytest.mark.parametrize("error", error_classes(), ids=lambda error: error.__name__)
def test_every_domain_error_code_is_an_error_code_of_the_contract(
    error: type[VerrouError],
) -> None:
    assert error.code in ErrorCode.__members__


def test_every_message_key_raised_has_a_text() -> None:
    keys = message_keys()
    # The scan reads what it should: the refusals written with a key of their own.
    assert {"INVALID_EMAIL", "RECOVERY_ALREADY_PENDING", "CANNOT_RESOLVE_OWN_REQUEST"} <= keys
    assert sorted(key for key in keys if key not in MESSAGES) == []
    # A key of its own is a message, never a code: the code is the class's.
    assert sorted(key for key in keys if key in ErrorCode.__members__) == []


def test_every_field_a_service_names_is_an_input_of_the_schema() -> None:
    names = field_names()
    assert {"billing_contact_email", "challenge_token", "code", "after", "note"} <= names
    inputs = schema_inputs()
    unknown = []
    for name in sorted(names):
        path = api_path(name)
        assert path is not None and path[0] == "input"
        if path[1] not in inputs:
            unknown.append(name)
    assert unknown == []


@pytest.mark.parametrize(
    ("field", "path"),
    [
        (None, None),
        ("code", ["input", "code"]),
        ("billing_contact_email", ["input", "billingContactEmail"]),
        ("ids.2", ["input", "ids", "2"]),
        (WHOLE_INPUT, ["input"]),
    ],
)
def test_a_domain_field_name_maps_to_its_input_path(field: str | None, path: list[str]) -> None:
    assert api_path(field) == path
