"""The report of `make mutation`: per module, what mutmut's last run found, from mutants/*.meta.

    python tests/mutation_report.py [services/totp.py ...]

With no argument, every module of pyproject's [tool.mutmut] only_mutate. Prints per module the
mutants killed, survived, without tests, timed out and otherwise (suspicious, segfault, not
checked), and the share caught (killed or timed out) of the covered mutants, those at least
one test runs. Exits 1 when a module is under THRESHOLD, when a mutant was not checked, or
when a survivor is not listed in docs/mutation-equivalents.md (one line per equivalent
mutant, its name in backquotes: "- `services.totp.x_verify__mutmut_3`: why").
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "docs" / "mutation-equivalents.md"
THRESHOLD = 95.0
CAUGHT = ("killed", "timeout")
NAME = re.compile(r"^- `([\w.ǁ]+__mutmut_\d+)`", re.MULTILINE)


@dataclass
class ModuleResult:
    path: str
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def covered(self) -> int:
        return self.total - self.counts["no tests"] - self.counts["skipped"]

    @property
    def caught(self) -> int:
        return sum(self.counts[status] for status in CAUGHT)

    @property
    def score(self) -> float:
        return 100.0 * self.caught / self.covered if self.covered else 100.0


def configured_modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    modules: list[str] = config["tool"]["mutmut"]["only_mutate"]
    return modules


def read_module(path: str) -> ModuleResult | None:
    meta = ROOT / "mutants" / f"{path}.meta"
    if not meta.exists():
        return None
    exit_codes: dict[str, int | None] = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    result = ModuleResult(path)
    for name, exit_code in sorted(exit_codes.items()):
        status = status_by_exit_code[exit_code]
        result.counts[status] += 1
        if status == "survived":
            result.survivors.append(name)
    return result


def listed_equivalents() -> set[str]:
    if not EQUIVALENTS.exists():
        return set()
    return set(NAME.findall(EQUIVALENTS.read_text("utf-8")))


def main(argv: list[str]) -> int:
    modules = argv or configured_modules()
    equivalents = listed_equivalents()
    failures: list[str] = []
    header = f"{'module':36} {'killed':>6} {'surv.':>6} {'equiv.':>6} {'no tests':>8} "
    header += f"{'timeout':>7} {'other':>6} {'caught/covered':>16}"
    print(header)
    for path in modules:
        result = read_module(path)
        if result is None:
            print(f"{path:36} no results (mutants/{path}.meta missing: run mutmut first)")
            failures.append(f"{path}: no results")
            continue
        c = result.counts
        other = result.total - sum(c[s] for s in (*CAUGHT, "survived", "no tests", "skipped"))
        equivalent = [name for name in result.survivors if name in equivalents]
        share = f"{result.caught}/{result.covered} {result.score:5.1f}%"
        print(
            f"{path:36} {c['killed']:>6} {c['survived']:>6} {len(equivalent):>6} "
            f"{c['no tests']:>8} {c['timeout']:>7} {other:>6} {share:>16}"
        )
        if result.score < THRESHOLD:
            failures.append(f"{path}: {result.score:.1f}% caught, under {THRESHOLD:.0f}%")
        if c["not checked"]:
            failures.append(f"{path}: {c['not checked']} mutants not checked (interrupted run?)")
        for status in sorted(set(c) - {*CAUGHT, "survived", "no tests", "skipped"}):
            print(f"    {c[status]} {status}")
        for name in result.survivors:
            if name not in equivalents:
                failures.append(f"{name} survived (mutmut show {name})")
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
