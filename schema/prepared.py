"""Operations already seen: parsed, checked and validated once, then executed directly.

Strawberry's `Schema.execute` builds six extension objects per request and runs each
document through their hooks (parse cache, validation cache, extra rules, error masking,
the request log's label, request error codes) before graphql-core executes it. For a
document this schema has already parsed and validated, with the same operation name, all
that work has one answer. A `PreparedOperation` keeps it: the parsed document, its
operation type, and the label the request log and metrics use; `run` then does only what
depends on the request (the variables' size, execution, then the errors' logging, tags and
masking that the extensions would have done), in the order Strawberry does it.

Subscriptions too (`stream`): a live subscription keeps its stream for as long as its
socket is open, and Strawberry's keeps the extension objects and their open hooks with it,
about 5 KiB for each account with a socket. A subscription document enters the cache once
Strawberry's path has validated it (`RememberSubscriptions`).

A document enters the cache only after Strawberry's own path executed it with no request
error, so an invalid document is never prepared, and a prepared one is valid under every
rule the schema has (depth, aliases, introspection off in production, NUL in strings).
Bounded in count (least recently used out) and in size (documents over 16 KiB are not
prepared): distinct valid documents are not free to make, but a client can still send many.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode, parse
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.schema._graphql_core import execute, execution_context_class_kwargs, subscribe
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.aio import aclosing
from strawberry.utils.await_maybe import await_maybe

from schema.observability import outcome_of, root_fields
from schema.planned import ExecutionPlan

MAX_PREPARED = 512
# Longer documents run Strawberry's path each time: with the count bounded, this bounds the
# memory the plans hold (text and tree) whatever documents clients send.
MAX_PREPARED_BYTES = 16 * 1024
UNEXPECTED = "Unexpected error."

ProcessErrors = Callable[[list[GraphQLError]], None]
ShouldMask = Callable[[GraphQLError], bool]


@dataclass(frozen=True, slots=True)
class PreparedOperation:
    document: DocumentNode
    operation_type: OperationType
    operation_name: str | None
    # The request log's and the metrics' name for it (schema/observability.py).
    label: str


def prepare(query: str, operation_name: str | None) -> PreparedOperation | None:
    """The document of a request Strawberry has just executed without a request error."""
    document = parse(query)
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        )
    ]
    if len(operations) != 1:
        return None
    operation = operations[0]
    return PreparedOperation(
        document=document,
        operation_type=OperationType(operation.operation.value),
        operation_name=operation.name.value if operation.name else None,
        label=root_fields(document, operation_name),
    )


class PreparedOperations:
    def __init__(self, maxsize: int = MAX_PREPARED) -> None:
        self.maxsize = maxsize
        self._plans: OrderedDict[tuple[str, str | None], PreparedOperation] = OrderedDict()

    def get(self, query: str, operation_name: str | None) -> PreparedOperation | None:
        key = (query, operation_name)
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        return plan

    def remember(self, query: str, operation_name: str | None) -> None:
        key = (query, operation_name)
        if key in self._plans or len(query) > MAX_PREPARED_BYTES:
            return
        plan = prepare(query, operation_name)
        if plan is None:
            return
        self._plans[key] = plan
        if len(self._plans) > self.maxsize:
            self._plans.popitem(last=False)

    def __len__(self) -> int:
        return len(self._plans)


async def run(
    plan: PreparedOperation,
    schema: GraphQLSchema,
    executor_class: Any,
    *,
    variable_values: dict[str, Any] | None,
    context_value: Any,
    root_value: Any,
    operation_extensions: dict[str, Any] | None,
    process_errors: ProcessErrors,
    should_mask: ShouldMask,
    execution_plan: ExecutionPlan | None = None,
) -> ExecutionResult:
    try:
        if execution_plan is not None:  # a trusted document (schema/planned.py)
            executed = execution_plan.execute(
                schema,
                plan.operation_name,
                root_value=root_value,
                context_value=context_value,
                variable_values=variable_values,
                operation_extensions=operation_extensions,
            )
        else:
            executed = execute(
                schema,
                plan.document,
                root_value=root_value,
                variable_values=variable_values,
                operation_name=plan.operation_name,
                context_value=context_value,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                operation_extensions=operation_extensions,
                **execution_context_class_kwargs(executor_class),
            )
        result: GraphQLExecutionResult = await await_maybe(executed)
        data, errors = result.data, result.errors
    except Exception as exc:  # as Strawberry: the operation's error, not a crash
        data, errors = None, [_coerced(exc)]
    answer = ExecutionResult(data=data, errors=_processed(errors, process_errors, should_mask))
    label_request(context_value, plan, answer)
    return answer


async def stream(
    plan: PreparedOperation,
    schema: GraphQLSchema,
    executor_class: Any,
    *,
    variable_values: dict[str, Any] | None,
    context_value: Any,
    root_value: Any,
    operation_extensions: dict[str, Any] | None,
    process_errors: ProcessErrors,
    should_mask: ShouldMask,
) -> AsyncGenerator[ExecutionResult, None]:
    """A prepared subscription's results, each as Strawberry's `stream` gives it: its errors
    logged and tagged, then masked; what graphql-core refuses before the stream starts
    (variables) as a PreExecutionError; an exception of the stream as its last result."""

    def finish(data: Any, errors: list[GraphQLError] | None, kind: type = ExecutionResult) -> Any:
        return kind(
            data=data, errors=_processed(errors, process_errors, should_mask), extensions={}
        )

    try:
        source: AsyncIterator[GraphQLExecutionResult] | GraphQLExecutionResult = await await_maybe(
            subscribe(
                schema,
                plan.document,
                root_value=root_value,
                variable_values=variable_values,
                operation_name=plan.operation_name,
                context_value=context_value,
                operation_extensions=operation_extensions,
                **execution_context_class_kwargs(executor_class),
            )
        )
    except Exception as exc:  # as Strawberry: the operation's error, not a crash
        yield finish(None, [_coerced(exc)])
        return
    if isinstance(source, GraphQLExecutionResult):
        yield finish(None, source.errors, PreExecutionError)
        return
    try:
        async with aclosing(source):
            async for result in source:
                yield finish(result.data, result.errors)
    except Exception as exc:  # graphql-core lets a resolver's exception out of the stream
        yield finish(None, [_coerced(exc)])


class RememberSubscriptions(SchemaExtension):
    """Prepares a subscription document once Strawberry's path has validated it without
    error, so that the next subscriptions of it run `stream` (queries and mutations enter
    the cache from `VerrouSchema.execute`, once executed)."""

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        prepared = getattr(context.schema, "prepared", None)
        # The name the request gave (`operation_name` falls back to the document's own),
        # as VerrouSchema.stream looks it up; without it, the first operation's name.
        name = getattr(context, "_provided_operation_name", context.operation_name)
        if (
            isinstance(prepared, PreparedOperations)
            and not context.pre_execution_errors
            and isinstance(context.query, str)
            and (name is None or isinstance(name, str))
            and context.operation_type is OperationType.SUBSCRIPTION
        ):
            prepared.remember(context.query, name)


def label_request(context: Any, plan: PreparedOperation, result: ExecutionResult) -> None:
    """What schema.observability.OperationLabel writes for the request log and metrics."""
    request = getattr(context, "request", None)
    if request is None or request.scope.get("type") != "http":
        return
    state = request.scope.setdefault("state", {})
    outcome = outcome_of(result)
    state["graphql_operation"] = "invalid" if outcome == "rejected" else plan.label
    state["graphql_operation_name"] = plan.operation_name
    state["graphql_outcome"] = outcome


def _as_error(exc: Exception) -> GraphQLError:
    return GraphQLError(str(exc), original_error=exc)


def _processed(
    errors: list[GraphQLError] | None, process_errors: ProcessErrors, should_mask: ShouldMask
) -> list[GraphQLError] | None:
    """Logged and tagged as they are (the schema's process_errors), then masked."""
    if not errors:
        return errors
    process_errors(errors)
    return [_anonymised(error) if should_mask(error) else error for error in errors]


def _coerced(exc: Exception) -> GraphQLError:
    return exc if isinstance(exc, GraphQLError) else _as_error(exc)


def _anonymised(error: GraphQLError) -> GraphQLError:
    # strawberry.extensions.MaskErrors.anonymise_error, with its default message.
    return GraphQLError(
        message=UNEXPECTED,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
    )
