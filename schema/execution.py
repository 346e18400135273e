"""One execution per subscription event, shared by every subscriber asking the same thing.

A notification goes to every open subscription of an account, often thousands. Executing
the selection for each costs about half a millisecond; all of them would compute the same
answer when they run the same operation, with the same variables, in the same language,
for the same account, on the same event. The first subscriber computes it, the others
await that result.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable
from typing import Any

from graphql import ExecutionResult, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# Per event object, by identity (models compare equal by primary key, which is not the
# same event), answers by (operation, variables, locale, account). An entry goes when its
# event object does, once every subscriber is done with it.
Answers = dict[tuple[object, ...], tuple[object, asyncio.Future[Any]]]
_answers: dict[int, Answers] = {}


def _answers_for(event: object) -> Answers:
    answers = _answers.get(id(event))
    if answers is None:
        answers = _answers[id(event)] = {}
        weakref.finalize(event, _answers.pop, id(event), None)
    return answers


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    _is_event = False

    def build_per_event_executor(self, payload: Any) -> SharedEventExecutor:
        executor = super().build_per_event_executor(payload)
        executor._is_event = True
        return executor  # type: ignore[return-value]

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._event_key() if self._is_event else None
        if key is None:
            return super().execute_operation(serially)
        answers = _answers_for(self.root_value)
        entry = answers.get(key)
        if entry is None:
            answer = asyncio.ensure_future(_settle(super().execute_operation(serially)))
            # The entry holds the operation node, so the id() in its key stays unique.
            entry = answers[key] = (self.operation, answer)
        return _shared(entry[1])

    def _event_key(self) -> tuple[object, ...] | None:
        if self.operation.operation is not OperationType.SUBSCRIPTION:
            return None
        context = self.context_value
        account = getattr(context, "account", None)
        locale = getattr(context, "locale", None)
        if account is None or locale is None:
            return None
        # The coerced values only: the whole VariableValues also carries AST sources.
        coerced = self.variable_values.coerced
        variables = json.dumps(coerced, sort_keys=True, default=str) if coerced else ""
        # By identity: the parser cache hands every subscriber of one document the same
        # node (and hashing an AST node walks the whole tree).
        return (id(self.operation), variables, locale, account.id)


async def _settle(result: Any) -> ExecutionResult:
    return await result if isinstance(result, Awaitable) else result  # type: ignore[no-any-return]


async def _shared(answer: asyncio.Future[Any]) -> ExecutionResult:
    # shield: one subscriber leaving must not cancel the answer the others await.
    return await asyncio.shield(answer)  # type: ignore[no-any-return]
