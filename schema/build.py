"""The executable schema, with the extensions its settings ask for."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.responses import Response
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from schema import input_values, prepared
from schema.connections import describe_connections
from schema.executor import VerrouExecutor
from schema.limits import REQUEST_TOO_LARGE, LimitExceeded, RequestLimits
from schema.observability import OperationLabel
from schema.planned import ExecutionPlan, plannable
from schema.prepared import PreparedOperation, PreparedOperations, RememberSubscriptions
from schema.production_errors import hide_schema_shape
from schema.recovery_types import RecoveryRequest
from schema.request_errors import RequestErrorCodes, TolerantParserCache, tag_request_errors
from schema.root import Mutation, Query, Subscription
from schema.scalars import SCALARS
from schema.text_rules import NoNulInStrings
from schema.types import Account, Notification, SecurityEvent

logger = logging.getLogger("verrou.graphql")


def should_mask(error: GraphQLError) -> bool:
    """Mask execution errors that come from an exception; keep request errors (parse,
    validation, variables: no path) and errors resolvers raise for clients on purpose."""
    if error.path is None:
        return False
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


# graphql-core's " Did you mean 'email'?" (fields, arguments, types, enum values, input
# fields): a way to read the schema piece by piece with introspection off.
_SUGGESTION = re.compile(r" Did you mean [^?]*\?$")


def hide_suggestion(error: GraphQLError) -> None:
    error.message = _SUGGESTION.sub("", error.message)


class VerrouSchema(strawberry.Schema):
    def __init__(
        self,
        *args: Any,
        limits: RequestLimits,
        hide_suggestions: bool,
        hide_schema: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        describe_connections(self._schema)
        # Inputs built by a table made once per type, not converted field by field.
        input_values.install(self)
        self.limits = limits
        self.hide_suggestions = hide_suggestions
        # Introspection off: request errors name nothing of the schema (production_errors.py).
        self.hide_schema = hide_schema
        # Documents this schema has executed without a request error (schema/prepared.py).
        self.prepared = PreparedOperations()
        # Plans of the trusted documents requests named by id or hash (schema/planned.py),
        # None for one that cannot be planned. Keyed as the prepared operations; only manifest texts
        # come here, so the manifest bounds it.
        self.plans: dict[tuple[str | None, str | None], ExecutionPlan | None] = {}

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> ExecutionResult:
        """HTTP: a request over a size or token limit is answered before it is parsed. A
        document executed before runs prepared (schema/prepared.py); `planned=True` (the
        request named a trusted document by its id or hash) runs it with its plan as well
        (schema/planned.py)."""
        planned = kwargs.pop("planned", False)
        operation_name = kwargs.get("operation_name")
        # Strawberry passes operationName on whatever its JSON was (a list, a number): only
        # a string or none names a plan; anything else takes Strawberry's path and its error.
        named = operation_name is None or isinstance(operation_name, str)
        text = query if isinstance(query, str) and named and not args else None
        plan = self.prepared.get(text, operation_name) if text is not None else None
        allowed = kwargs.get("allowed_operation_types")
        if allowed is None:  # as Strawberry: None allows every type, an empty set none
            allowed = DEFAULT_ALLOWED_OPERATION_TYPES
        if plan is not None and plan.operation_type in allowed:
            # The document passed the size and token limits when it was prepared.
            refused = self._refuse(None, variable_values)
            if refused is None:
                return await prepared.run(
                    plan,
                    self._schema,
                    self.execution_context_class,
                    variable_values=variable_values,
                    context_value=context_value,
                    root_value=kwargs.get("root_value"),
                    operation_extensions=kwargs.get("operation_extensions"),
                    process_errors=self._process_errors,
                    should_mask=should_mask,
                    execution_plan=self._plan((text, operation_name), plan) if planned else None,
                )
        else:
            refused = self._refuse(query, variable_values)
        if refused is None:
            result = await super().execute(query, variable_values, context_value, *args, **kwargs)
            if text is not None and not _refused_request(result):
                self.prepared.remember(text, operation_name)
            return result
        response = getattr(context_value, "response", None)
        if refused.code == REQUEST_TOO_LARGE and isinstance(response, Response):
            response.status_code = 413
        return ExecutionResult(data=None, errors=[refused])

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> Any:
        """WebSocket (both protocols come here): the same refusal, as the operation's error.
        A subscription document validated before runs prepared (schema/prepared.py)."""
        refused = self._refuse(query, variable_values)
        if refused is not None:
            return _refusal(refused)
        named = operation_name is None or isinstance(operation_name, str)
        plan = (
            self.prepared.get(query, operation_name) if isinstance(query, str) and named else None
        )
        allowed = (
            DEFAULT_ALLOWED_OPERATION_TYPES
            if allowed_operation_types is None
            else allowed_operation_types
        )
        if (
            plan is not None
            and plan.operation_type is OperationType.SUBSCRIPTION
            and OperationType.SUBSCRIPTION in allowed
        ):
            return prepared.stream(
                plan,
                self._schema,
                self.execution_context_class,
                variable_values=variable_values,
                context_value=context_value,
                root_value=root_value,
                operation_extensions=operation_extensions,
                process_errors=self._process_errors,
                should_mask=should_mask,
            )
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )

    def _plan(
        self, key: tuple[str | None, str | None], prepared: PreparedOperation
    ) -> ExecutionPlan | None:
        plan = self.plans.get(key)
        if plan is None and key in self.plans:
            return None  # not plannable
        if plan is None or plan.document is not prepared.document:
            # New, or the operation was prepared again (out of the prepared cache and back):
            # a plan for its new tree, whose node ids the old plan's keys do not hold.
            usable = self.execution_context_class is VerrouExecutor and plannable(prepared.document)
            plan = self.plans[key] = ExecutionPlan(prepared.document) if usable else None
        return plan

    def _refuse(self, query: str | None, variables: Any) -> LimitExceeded | None:
        # A variables value that is not an object is Strawberry's to refuse.
        return self.limits.check_request(query, variables if isinstance(variables, dict) else None)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log unexpected failures only, by type and path. Strawberry's default logs every
        error's message, and a request error's message repeats the input it refused, a
        password included; those errors are the client's, and go back to the client."""
        tag_request_errors(errors)
        for error in errors:
            if should_mask(error):
                path = ".".join(str(part) for part in error.path or ())
                logger.error("unexpected error in %s", path, exc_info=error.original_error)
            if self.hide_suggestions:
                hide_suggestion(error)
            if self.hide_schema:
                hide_schema_shape(error)


def _refused_request(result: ExecutionResult) -> bool:
    """Parse, validation and variable errors: no data, and no error points at a field."""
    return result.data is None and any(error.path is None for error in result.errors or ())


async def _refusal(error: GraphQLError) -> AsyncGenerator[ExecutionResult, None]:
    yield PreExecutionError(data=None, errors=[error])


def build_schema(
    *,
    introspection: bool = True,
    limits: RequestLimits | None = None,
    hide_suggestions: bool = False,
) -> strawberry.Schema:
    limits = limits or RequestLimits()
    # The same rule classes for every request: the validation cache keys on them.
    rules: Iterable[Any] = (*limits.validation_rules(), NoNulInStrings)
    # Factories, not instances: Strawberry builds fresh extensions per request (the parse
    # and validation caches live at module level, so they still span requests).
    extensions: list[object] = [
        lambda: TolerantParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: AddValidationRules(list(rules)),
        lambda: MaskErrors(should_mask_error=should_mask),
        OperationLabel,
        RequestErrorCodes,
        RememberSubscriptions,
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return VerrouSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Account, Notification, SecurityEvent, RecoveryRequest],
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
        execution_context_class=VerrouExecutor,
        limits=limits,
        hide_suggestions=hide_suggestions,
        hide_schema=not introspection,
    )
