"""A pytest plugin for `make mutation` only (pyproject's [tool.mutmut] loads it with -p).

mutmut runs a mutant's tests with -x, in the order it lists them (a set's: any order). The
tests written against mutants (tests/test_mutants_*.py) come first here, then the rest by
file and name, so that a killed mutant usually stops at a short direct test instead of after
minutes of end-to-end ones. Order only: no test is added or left out.
"""

from __future__ import annotations

import pytest


def _key(item: pytest.Item) -> tuple[bool, str]:
    return (not item.path.name.startswith("test_mutants_"), item.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_key)
