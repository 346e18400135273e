"""Execution plans of trusted documents: what graphql-core works out anew for every request
of a document, kept across the requests that name a trusted document.

For a document whose selections carry no directive, what graphql-core collects of each
object's selection (`collect_subfields`: walking the selection set, grouping by response
key) and of the root's depends only on the document: a plan keeps both. It splits each
object's selection into the plain fields read directly and the rest (schema/direct_reads.py).
And it keeps the operation's executor: graphql-core builds one per request
(`Executor.build`: finding the operation and the fragments in the document, then the
constructors of three executor classes, about a fifth of a planned request's execution),
though only the request's root value, context, variables and the state of its one run
differ. A request's executor is a copy of the plan's (`for_request`), with those given
anew; the rest is the schema's and the document's, as graphql-core's own copies for
subscription events and deferred work share it.

Only documents of the trusted-documents manifest are planned, when a request names one (by
`documentId`, or by hash as Apollo's persisted-query link does) rather than sending its text:
they are a fixed set the server was given at start, so the plans held for the process's
life are bounded by it. A text document, or a persisted query a client registered, runs
prepared (schema/prepared.py) but unplanned: those are whatever clients send.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    Visitor,
    visit,
)
from graphql.execution.collect_fields import (
    CollectedFields,
    FieldDetailsList,
    GroupedFieldSet,
    collect_fields,
)
from graphql.execution.executor import UNEXPECTED_MULTIPLE_PAYLOADS, CollectedErrors
from graphql.execution.values import VariableValues, get_variable_values
from graphql.language import OperationType
from graphql.pyutils import AwaitableOrValue, Path, Undefined
from strawberry.execution import optimized_is_awaitable

from schema import direct_reads
from schema.direct_reads import Split
from schema.executor import VerrouExecutor, weak_helpers

_UNPLANNED = object()
# graphql-core's `execute` default (`max_coercion_errors`), as for an unplanned request.
MAX_COERCION_ERRORS = 50

# What a request's executor has of its own (`PlannedExecutor.for_request`). Every other
# attribute an executor has is the schema's or the document's and is shared with the
# plan's executor: tests/test_planned_execution.py fails when graphql-core adds one that
# is in neither list. The memos of @defer and @stream (`_stream_usages` and the execution
# plans) are shared too: only directives fill them, and a planned document has none.
PER_REQUEST = frozenset(
    """root_value context_value variable_values operation_extensions async_helpers
    collected_errors pending_incremental_futures background_futures
    async_work_finished_hook_task defer_usage_set groups tasks streams""".split()
)
SHARED = frozenset(
    """schema fragment_definitions fragments operation field_resolver type_resolver
    subscribe_field_resolver enable_early_execution hide_suggestions abort_signal hooks
    middleware_manager error_propagation is_awaitable is_async_iterable _relevant_sub_fields
    _stream_usages _initial_execution_plans _deferred_execution_plans plan""".split()
)


class ExecutionPlan:
    """What the requests of one parsed document share. Keys hold ids of the document's own
    nodes and of the schema's types: the plan keeps the document, so no id is reused while
    the plan lives."""

    __slots__ = ("document", "executor", "leaf_sets", "root", "subfields")

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self.subfields: dict[tuple[int, ...], CollectedFields] = {}
        # For each object selection (its grouped field set, kept in `subfields`): the
        # fields read directly and the others.
        self.leaf_sets: dict[tuple[int, int], Split] = {}
        # The operation's executor, holding no request: each request runs a copy of it.
        self.executor: PlannedExecutor | None = None
        # The root type and its collected fields (_UNPLANNED: graphql-core collects them).
        self.root: tuple[GraphQLObjectType, GroupedFieldSet] | object | None = None

    def execute(
        self,
        schema: GraphQLSchema,
        operation_name: str | None,
        *,
        root_value: Any,
        context_value: Any,
        variable_values: dict[str, Any] | None,
        operation_extensions: dict[str, Any] | None,
    ) -> AwaitableOrValue[ExecutionResult]:
        """What graphql-core's `execute` gives for this request, from the plan's executor."""
        executor = self.executor
        if executor is None:
            built = PlannedExecutor.build(
                schema,
                self.document,
                root_value,
                context_value,
                variable_values,
                operation_name,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                operation_extensions=operation_extensions,
                plan=self,
            )
            if isinstance(built, list):  # the variables: the next request may give others
                return ExecutionResult(None, built)
            assert isinstance(built, PlannedExecutor)  # noqa: S101 (build's class is cls)
            self.executor = built.for_request(None, None, None, None)
            return _single(built.execute_operation())
        definitions = executor.operation.variable_definitions
        if definitions:
            variables = get_variable_values(
                schema,
                definitions,
                variable_values or {},
                max_errors=MAX_COERCION_ERRORS,
                hide_suggestions=executor.hide_suggestions,
            )
            if isinstance(variables, list):
                return ExecutionResult(None, variables)
        else:  # what get_variable_values gives for no definitions, whatever was sent
            variables = VariableValues({}, {})
        request = executor.for_request(root_value, context_value, variables, operation_extensions)
        return _single(request.execute_operation())


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
    """Strawberry's executor with a plan: collected fields, the split of each object's
    selection, and the operation's executor to copy from it."""

    def __init__(self, *args: Any, plan: ExecutionPlan, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan = plan

    def for_request(
        self,
        root_value: Any,
        context_value: Any,
        variable_values: Any,
        operation_extensions: dict[str, Any] | None,
    ) -> PlannedExecutor:
        """A copy of this executor for one request: the request's own (PER_REQUEST) anew,
        the rest shared."""
        executor: PlannedExecutor = object.__new__(type(self))
        state = executor.__dict__
        state.update(self.__dict__)
        state["root_value"] = root_value
        state["context_value"] = context_value
        state["variable_values"] = variable_values
        state["operation_extensions"] = operation_extensions
        state["collected_errors"] = CollectedErrors()
        state["pending_incremental_futures"] = set()
        state["background_futures"] = set()
        state["async_work_finished_hook_task"] = None
        state["defer_usage_set"] = None
        state["groups"] = []
        state["tasks"] = []
        state["streams"] = []
        state["async_helpers"] = weak_helpers(executor)
        return executor

    def execute_operation(self, serially: bool | None = None) -> AwaitableOrValue[Any]:
        """graphql-core's `Executor.execute_operation`, less the collection of the root's
        fields, which the plan keeps (a planned document has no directive, so they depend on
        nothing the request gives). With an abort signal (never given here) or fields
        graphql-core would not collect plainly, graphql-core's own."""
        plan = self.plan
        root = plan.root
        if root is None:
            root = plan.root = self._root()
        if root is _UNPLANNED or self.abort_signal is not None:
            return super().execute_operation(serially)
        root_type, grouped_field_set = cast("tuple[GraphQLObjectType, GroupedFieldSet]", root)
        if serially is None:
            serially = self.operation.operation == OperationType.MUTATION
        try:
            result = self.execute_root_grouped_field_set(
                root_type, self.root_value, grouped_field_set, serially, None
            )
        except GraphQLError as error:
            self.collected_errors.add(error, None)
            return self.build_response(None)
        if self.is_awaitable(result):
            return self._completed(result)
        return self.build_response(result)  # type: ignore[arg-type]

    async def _completed(self, result: Awaitable[dict[str, Any]]) -> Any:
        try:
            data = await result
        except GraphQLError as error:
            self.collected_errors.add(error, None)
            return self.build_response(None)
        except Exception:
            await self.cancel_incremental_work()
            self.run_async_work_finished_hook()
            raise
        return self.build_response(data)

    def _root(self) -> tuple[GraphQLObjectType, GroupedFieldSet] | object:
        root_type = self.schema.get_root_type(self.operation.operation)
        if root_type is None:
            return _UNPLANNED  # graphql-core's error, each time
        try:
            collected = collect_fields(
                self.schema,
                self.fragments,
                self.variable_values,
                root_type,
                self.operation,
                self.hide_suggestions,
            )
        except RecursionError:
            return _UNPLANNED
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            return _UNPLANNED
        return (root_type, collected.grouped_field_set)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        # An object's fields below the root (whose field set is collected anew per
        # request): the direct reads in one loop, the other fields through graphql-core's
        # `execute_fields`, then the two in the selection's order. A read graphql-core must
        # complete itself sends the whole object through its path.
        if path is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        # Every object's field set comes from `collect_subfields` below, kept in the plan:
        # the splits are as many as the document's selections.
        key = (id(parent_type), id(grouped_field_set))
        known = self.plan.leaf_sets.get(key)
        if known is None or known[0] is not grouped_field_set:
            known = direct_reads.split(self.schema, parent_type, grouped_field_set)
            if self.middleware_manager:  # every field through the middleware
                known = (grouped_field_set, (), grouped_field_set)
            self.plan.leaf_sets[key] = known
        _, reads, rest = known
        read: dict[str, Any] = {}
        is_awaitable, read_leaf = self.is_awaitable, direct_reads.read
        for name, leaf in reads:
            value = read_leaf(leaf, source_value, is_awaitable)
            if value is Undefined:
                rest = grouped_field_set
                break
            read[name] = value
        else:
            if not rest:
                return read  # every field, in order
        others = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if rest is grouped_field_set:
            return others
        if is_awaitable(others):

            async def awaited() -> dict[str, Any]:
                return direct_reads.in_order(grouped_field_set, read, await others)

            return awaited()
        return direct_reads.in_order(grouped_field_set, read, others)  # type: ignore[arg-type]

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


def _single(result: AwaitableOrValue[Any]) -> AwaitableOrValue[ExecutionResult]:
    """As graphql-core's `execute`: one result, never incremental ones (a planned document
    has no @defer or @stream, so this refusal is never met)."""
    if isinstance(result, ExecutionResult):
        return result

    async def awaited() -> ExecutionResult:
        answer = await result
        if isinstance(answer, ExecutionResult):
            return answer
        raise GraphQLError(UNEXPECTED_MULTIPLE_PAYLOADS)

    if optimized_is_awaitable(result):
        return awaited()
    raise GraphQLError(UNEXPECTED_MULTIPLE_PAYLOADS)
