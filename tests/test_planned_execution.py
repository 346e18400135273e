"""Execution plans of trusted documents (schema/planned.py): the same answers and errors as
graphql-core's own executor, fields collected once per plan, leaves read directly; only
requests that name a manifest document run planned."""

from __future__ import annotations

import contextlib
import hashlib
import json
import weakref
from collections.abc import AsyncIterator
from enum import Enum
from pathlib import Path
from typing import Any, NewType

import httpx
import pytest
import strawberry
from graphql import ExecutionResult, parse
from strawberry.schema._graphql_core import execute
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.scalar import ScalarDefinition

from schema.build import VerrouSchema
from schema.planned import PER_REQUEST, SHARED, ExecutionPlan, PlannedExecutor, plannable
from server import create_app
from services.clock import FrozenClock
from tests.conftest import make_settings, start
from tests.helpers import PASSWORD


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


# A scalar whose serializer gives nothing for one value: graphql-core refuses that.
Mood = NewType("Mood", str)
MOOD = ScalarDefinition(
    name="Mood",
    description=None,
    specified_by_url=None,
    serialize=lambda value: None if value == "hidden" else str(value),
    parse_value=str,
    parse_literal=None,
)


@strawberry.type
class Maker:
    name: str


@strawberry.type
class Item:
    name: str
    count: int
    note: str | None
    colour: Colour
    mood: Mood | None
    maker: Maker | None = None  # an object read as an attribute: not a leaf

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    async def whisper(self) -> str:
        return self.name.lower()

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("broken on purpose")

    @strawberry.field
    async def broken_later(self) -> str | None:
        raise ValueError("broken later on purpose")


class Exploding:
    """An Item whose name cannot be read."""

    count = 1
    note = None
    colour = Colour.RED
    mood = None

    @property
    def name(self) -> str:
        raise ValueError("no name today")


class Later:
    """A value to await (graphql-core awaits what a resolver hands it)."""

    def __await__(self) -> Any:
        yield from ()
        return "calm"


def item(**values: Any) -> Item:
    fields = {"name": "pen", "count": 2, "note": None, "colour": Colour.BLUE, "mood": "calm"}
    fields |= values
    return Item(**fields)


ITEMS: dict[str, Any] = {
    "good": item(note="blue ink"),
    "null in a non-null field": item(name=None),
    "a value the scalar refuses": item(count="many"),
    "a value the enum refuses": item(colour="green"),
    "a scalar that serializes to nothing": item(mood="hidden"),
    "an error as the value": item(mood=LookupError("a stored error")),
    "a value to await": item(mood=Later()),
    "made": item(maker=Maker(name="ACME")),
    "an error while reading": Exploding(),
}


@strawberry.type
class Query:
    @strawberry.field
    def item(self, kind: str) -> Item | None:
        return ITEMS[kind]

    @strawberry.field
    async def items(self) -> list[Item]:
        return [ITEMS["good"], item(name="cup", count=0)]

    @strawberry.field
    def fails(self) -> str:
        raise ValueError("the root fails")

    @strawberry.field
    async def fails_later(self) -> str:
        raise ValueError("the root fails later")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def echo(self, text: str) -> str:
        return text

    @strawberry.mutation
    async def echo_later(self, text: str) -> str:
        return text


SCHEMA = strawberry.Schema(
    query=Query, mutation=Mutation, config=StrawberryConfig(scalar_map={Mood: MOOD})
)

DOCUMENTS = [
    f'{{ item(kind: "{kind}") {{ name count note colour mood shout }} }}' for kind in ITEMS
] + [
    "{ items { name count note colour } good: items { count } }",
    '{ item(kind: "good") { a: name b: name name } }',  # one key asked twice, aliases
    '{ item(kind: "good") { ...Parts } } fragment Parts on Item { name colour }',
    '{ item(kind: "good") { ... on Item { count } } items { ...Parts } } '
    "fragment Parts on Item { note }",
    "{ items { __typename name } }",
    '{ item(kind: "made") { maker { name } name maker { n: name } } }',
    '{ item(kind: "good") { name name ... on Item { name } } }',  # one field, three nodes
    # Direct reads and resolvers mixed: the answer keeps the selection's order.
    '{ item(kind: "good") { whisper name shout count w: whisper colour } }',
    "{ items { count whisper name } }",
    '{ item(kind: "good") { name brokenLater count } }',  # a nullable field's error
    '{ item(kind: "good") { name broken count } }',  # a non-null one's: the item is null
    '{ item(kind: "null in a non-null field") { whisper name } }',  # a read sent back
    # The root's fields (collected once for the plan): a non-null one failing nulls it all.
    '{ items { name } fails item(kind: "good") { name } }',
    "{ items { name } failsLater }",
    'mutation { a: echo(text: "one") b: echoLater(text: "two") c: echo(text: "three") }',
]


async def run(
    document: Any,
    plan: ExecutionPlan | None,
    variables: dict[str, Any] | None = None,
    context: Any = None,
) -> ExecutionResult:
    """graphql-core's own `execute` with Strawberry's executor, or the plan's run (as
    schema/prepared.run calls it for a trusted document)."""
    if plan is None:
        result = execute(
            SCHEMA._schema,
            document,
            variable_values=variables,
            context_value=context,
            operation_extensions=None,
            executor_class=StrawberryGraphQLCoreExecutionContext,
        )
    else:
        result = plan.execute(
            SCHEMA._schema,
            None,
            root_value=None,
            context_value=context,
            variable_values=variables,
            operation_extensions=None,
        )
    if not isinstance(result, ExecutionResult):
        result = await result
    assert isinstance(result, ExecutionResult)
    return result


async def test_a_value_to_await_is_awaited_as_graphql_core_does() -> None:
    document = parse('{ item(kind: "a value to await") { name mood } }')
    result = answer(await run(document, ExecutionPlan(document)))
    assert result == {"data": {"item": {"name": "pen", "mood": "calm"}}, "errors": []}


def answer(result: ExecutionResult) -> dict[str, Any]:
    return {"data": result.data, "errors": [error.formatted for error in result.errors or ()]}


@pytest.mark.parametrize("text", DOCUMENTS)
async def test_a_planned_run_answers_as_graphql_core_does(text: str) -> None:
    document = parse(text)
    assert plannable(document)
    expected = answer(await run(document, None))
    plan = ExecutionPlan(document)
    first = answer(await run(document, plan))
    again = answer(await run(document, plan))  # from the plan's collected fields and reads
    assert first == again == expected
    assert isinstance(plan.root, tuple)  # the root's fields, collected once for the plan
    if any(isinstance(value, dict | list) for value in (expected["data"] or {}).values()):
        assert plan.subfields  # and each object's


async def test_the_errors_are_graphql_cores_own() -> None:
    # What the planned reads hand back to graphql-core's path: the same error, located.
    answers = {}
    for kind in ITEMS.keys() - {"good", "a value to await", "made"}:
        document = parse(f'{{ item(kind: "{kind}") {{ name count colour mood }} }}')
        answers[kind] = answer(await run(document, ExecutionPlan(document)))
    messages = {kind: [e["message"] for e in a["errors"]] for kind, a in answers.items()}
    assert messages == {
        "null in a non-null field": ["Cannot return null for non-nullable field Item.name."],
        "a value the scalar refuses": ["Int cannot represent non-integer value: 'many'"],
        "a value the enum refuses": ["Enum 'Colour' cannot represent value: 'green'"],
        "a scalar that serializes to nothing": [
            "Expected `Mood.coerce_output_value('hidden')` to return non-nullable value,"
            " returned: None"
        ],
        "an error as the value": ["a stored error"],  # graphql-core raises what it is given
        "an error while reading": ["no name today"],
    }
    for kind, found in answers.items():
        if kind in ("a scalar that serializes to nothing", "an error as the value"):
            # A nullable field: the null stays there.
            assert found["data"] == {
                "item": {"name": "pen", "count": 2, "colour": "BLUE", "mood": None}
            }
        else:
            assert found["data"] == {"item": None}, kind  # the null reached the nullable item
        assert found["errors"][0]["path"][:1] == ["item"]


async def test_an_objects_direct_reads_are_read_in_one_loop() -> None:
    document = parse(
        '{ item(kind: "good") { name count note shout colour } made: item(kind: "made") '
        "{ maker { name } } }"
    )
    plan = ExecutionPlan(document)
    await run(document, plan)
    split = {
        (tuple(name for name, _ in reads), tuple(rest))
        for _, reads, rest in plan.leaf_sets.values()
    }
    # name, count, note and colour are attribute reads; `shout` has a resolver, and `maker`
    # is an object: graphql-core's path (as `item`, at the root, with arguments).
    assert split == {
        (("name", "count", "note", "colour"), ("shout",)),
        ((), ("maker",)),
        (("name",), ()),
    }


async def test_each_request_has_its_own_variables_context_and_errors() -> None:
    """The plan's executor is built by the first request and copied for the next ones:
    each answers as graphql-core does with its own variables, and neither the plan nor the
    next request keeps anything of an earlier one."""
    document = parse("query($kind: String!) { item(kind: $kind) { name count colour } }")
    plan = ExecutionPlan(document)
    requests: list[dict[str, Any] | None] = [
        {"kind": "null in a non-null field"},  # built here, with an error
        {"kind": "good"},  # a copy: the first request's error is not in it
        None,  # a required variable missing: graphql-core's request error
        {"kind": "made"},
        {"kind": 3},  # a variable of the wrong type
        {"kind": "an error while reading"},
    ]
    for variables in requests:
        expected = answer(await run(document, None, variables))
        assert answer(await run(document, plan, variables)) == expected, variables
    assert plan.executor is not None
    assert plan.executor.root_value is None and plan.executor.context_value is None

    class Context:
        pass

    context = Context()
    gone = weakref.ref(context)
    await run(document, plan, {"kind": "good"}, context)
    del context
    assert gone() is None  # freed at once: no request's executor or plan keeps it


async def test_a_document_whose_first_request_fails_its_variables_is_built_again() -> None:
    document = parse("query($kind: String!) { item(kind: $kind) { name } }")
    plan = ExecutionPlan(document)
    refused = answer(await run(document, plan, {}))
    assert refused == answer(await run(document, None, {}))
    assert plan.executor is None  # no executor to copy from a request that could not build
    good = answer(await run(document, plan, {"kind": "good"}))
    assert good == {"data": {"item": {"name": "pen"}}, "errors": []}
    assert plan.executor is not None


def test_a_request_copy_shares_only_what_the_document_and_schema_give() -> None:
    """Every attribute graphql-core's executor has is either the request's own or shared
    with the plan: one graphql-core adds fails here until it is put in one of the two."""
    document = parse('{ item(kind: "good") { name } }')
    built = PlannedExecutor.build(SCHEMA._schema, document, plan=ExecutionPlan(document))
    assert isinstance(built, PlannedExecutor)
    assert set(vars(built)) == PER_REQUEST | SHARED
    assert not PER_REQUEST & SHARED
    first = built.for_request("root", "context", built.variable_values, {"x": 1})
    second = first.for_request("root 2", "context 2", built.variable_values, None)
    for name in SHARED:
        assert getattr(second, name) is getattr(built, name), name
    for name in PER_REQUEST - {
        "variable_values",
        "defer_usage_set",
        "async_work_finished_hook_task",
    }:
        assert getattr(second, name) is not getattr(first, name), name
    assert (second.root_value, second.context_value) == ("root 2", "context 2")
    # Its async helpers reach it, weakly (schema/executor.py), not the copy it came from.
    closure = second.async_helpers.gather.__closure__ or ()
    reached = [c.cell_contents() for c in closure if isinstance(c.cell_contents, weakref.ref)]
    assert reached == [second]


def test_a_document_with_a_directive_is_not_planned() -> None:
    assert plannable(parse("{ items { name } }"))
    assert not plannable(parse("query($x: Boolean!) { items { name @include(if: $x) } }"))
    assert not plannable(parse("query($x: Boolean!) { items @skip(if: $x) { name } }"))
    assert not plannable(parse("{ items { ...P @include(if: true) } } fragment P on Item { name }"))


# --- Only a request that names a manifest document runs planned. ---

STATUS = "query Status { twoFactorStatus { enabled pendingSetup backupCodesRemaining method } }"
OTHER = "query Other { twoFactorStatus { enabled } }"
SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { session { token } } }"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.asynccontextmanager
async def served(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[tuple[httpx.AsyncClient, VerrouSchema]]:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha256(STATUS): STATUS}))  # Relay's form
    settings = make_settings(db_path, tmp_path / "var", trusted_documents=manifest)
    app = create_app(settings, clock=clock)
    async with contextlib.asynccontextmanager(start)(app) as client:
        schema = app.state.subscriptions._schema  # FanOutSchema wraps it for the sockets
        assert isinstance(schema, VerrouSchema)
        yield client, schema


async def test_only_requests_naming_a_manifest_document_run_planned(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    async with served(db_path, tmp_path, clock) as (client, schema):
        variables = {"i": {"email": "alice@example.com", "password": PASSWORD}}
        signed_up = await client.post("/graphql", json={"query": SIGN_UP, "variables": variables})
        token = signed_up.json()["data"]["signUp"]["session"]["token"]
        headers = {"Authorization": f"Bearer {token}"}

        async def post(body: dict[str, Any]) -> Any:
            response = await client.post("/graphql", json=body, headers=headers)
            assert response.status_code == 200
            return response.json()

        as_text = [await post({"query": STATUS}) for _ in range(3)]
        assert schema.plans == {}  # sent as text, even the manifest's own text: prepared only
        by_id = [await post({"documentId": sha256(STATUS)}) for _ in range(3)]
        by_hash = await post(
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(STATUS)}}}
        )
        assert as_text[0] == as_text[-1] == by_id[0] == by_id[-1] == by_hash
        assert as_text[0]["data"]["twoFactorStatus"] == {
            "enabled": False,
            "pendingSetup": False,
            "backupCodesRemaining": 0,
            "method": None,
        }
        plan = schema.plans[(STATUS, None)]
        assert plan is not None and plan.leaf_sets and plan.subfields

        # A document a client registered (automatic persisted query) is not the manifest's.
        apq = {"version": 1, "sha256Hash": sha256(OTHER)}
        await post({"query": OTHER, "extensions": {"persistedQuery": apq}})
        for _ in range(2):
            await post({"extensions": {"persistedQuery": apq}})
        assert list(schema.plans) == [(STATUS, None)]
