"""An operation leaves no reference cycle behind (schema/executor.py): what it reached, its
context first, is freed as soon as it ends, not at the garbage collector's next pass."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from graphql import parse

from schema.build import build_schema
from schema.executor import VerrouExecutor


class Context:
    """Stands for a request's context: whatever the executor reaches goes with it."""

    request = None


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("planned", [False, True], ids=["prepared", "planned"])
async def test_an_operations_context_is_freed_when_it_ends(
    collector_off: None, planned: bool
) -> None:
    schema = build_schema()
    assert schema.execution_context_class is VerrouExecutor
    query = "{ __typename }"
    # The first run is Strawberry's path, the next ones prepared (and planned when asked).
    for run in range(3):
        context = Context()
        freed = weakref.ref(context)
        result = await schema.execute(query, context_value=context, planned=planned)
        assert result.errors is None and result.data == {"__typename": "Query"}
        del context, result
        assert freed() is None, f"run {run}: the context outlived its operation"


async def test_a_resolver_can_still_gather_through_the_helpers(collector_off: None) -> None:
    executor = VerrouExecutor.build(build_schema()._schema, parse("{ __typename }"))
    assert isinstance(executor, VerrouExecutor)

    async def one() -> int:
        return 1

    assert await executor.async_helpers.gather([one(), one()]) == [1, 1]
    reference = weakref.ref(executor)
    helpers = executor.async_helpers
    del executor
    assert reference() is None  # the helpers do not keep their executor
    with pytest.raises(RuntimeError, match="has ended"):
        helpers.track([])
