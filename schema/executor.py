"""The executor every operation runs with: Strawberry's, without graphql-core's reference
cycle.

graphql-core's executor keeps `async_helpers`, two of its own bound methods (`gather` and
`track`, for resolvers' asynchronous work): the executor refers to itself. So when a request
ends, its executor is not freed but left to the garbage collector, and with it all that it
reaches: the request's context, Starlette's request and response, uvicorn's request cycle,
the session and account rows, the variables, about sixty objects a request. Under load that
made most of what the youngest generation collected, each collection a pause of the event
loop (bench/README.md: the collector's pauses with 20,000 sockets). Here the helpers reach
the executor through a weak reference, and a request's objects go as soon as it ends.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class VerrouExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = weak_helpers(self)


def weak_helpers(executor: VerrouExecutor) -> GraphQLResolveInfoHelpers:
    """The executor's `async_helpers`, reaching it through a weak reference."""
    return GraphQLResolveInfoHelpers(
        gather=_weakly(executor, StrawberryGraphQLCoreExecutionContext.gather_async_work),
        track=_weakly(executor, StrawberryGraphQLCoreExecutionContext.track_async_work),
    )


def _weakly(executor: VerrouExecutor, method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` bound to `executor` by a weak reference. A resolver calls it while its
    operation runs, when the executor is alive."""
    reference = weakref.ref(executor)
    name = method.__name__

    def call(*args: Any, **kwargs: Any) -> Any:
        bound = reference()
        if bound is None:
            raise RuntimeError(f"{name}: the operation has ended")
        return getattr(bound, name)(*args, **kwargs)

    return call
