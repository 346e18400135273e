"""The layout's rules: one direction of imports (import-linter, as `make lint` runs it) and
no top-level module besides server.py and cli.py."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("transport", "webclient", "schema", "resolvers", "services", "models")
LAYERS_CONTRACT = "Layers: server -> cli -> transport -> webclient"
ORM_CONTRACT = "Resolvers never touch the ORM"
SERVICES_CONTRACT = "Services know nothing of GraphQL or HTTP"
MODELS_CONTRACT = "Models import only tortoise and the standard library"


def copy_application(destination: Path) -> None:
    """The Python files of the application and the contract, without node_modules or caches."""
    for name in ("pyproject.toml", "server.py", "cli.py"):
        shutil.copy2(ROOT / name, destination / name)
    for package in PACKAGES:
        for folder, subfolders, files in os.walk(ROOT / package):
            subfolders[:] = [s for s in subfolders if s not in ("node_modules", "__pycache__")]
            target = destination / Path(folder).relative_to(ROOT)
            for name in files:
                if name.endswith(".py"):
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(Path(folder) / name, target / name)


def lint_imports(directory: Path) -> subprocess.CompletedProcess[str]:
    # Wide lines, so that a contract's name is never broken across two.
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(  # noqa: S603 - the venv's own lint-imports
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_layout_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    copy_application(tmp_path)
    result = lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts['contracts'])} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("package", "imported", "contract"),
    [
        ("models", "server", LAYERS_CONTRACT),
        ("transport", "cli", LAYERS_CONTRACT),
        ("webclient", "transport", LAYERS_CONTRACT),
        ("resolvers", "schema", LAYERS_CONTRACT),
        ("services", "resolvers", LAYERS_CONTRACT),
        ("resolvers", "models", ORM_CONTRACT),
        ("resolvers", "tortoise", ORM_CONTRACT),
        ("services", "strawberry", SERVICES_CONTRACT),
        ("services", "starlette", SERVICES_CONTRACT),
        ("models", "services", MODELS_CONTRACT),
        ("models", "pydantic", MODELS_CONTRACT),
    ],
)
def test_a_reverse_import_breaks_the_contract_that_forbids_it(
    tmp_path: Path, package: str, imported: str, contract: str
) -> None:
    copy_application(tmp_path)
    (tmp_path / package / "reverse_probe.py").write_text(f"import {imported}  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = re.search(rf"^{re.escape(contract)}.* BROKEN$", result.stdout, re.MULTILINE)
    assert broken, result.stdout
    assert f"{package}.reverse_probe -> {imported} (l.1)" in result.stdout


def imported_top_level_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_cli_never_imports_server() -> None:
    # grimp cannot take a single-file module as a root, so cli.py's own imports are read here.
    assert "server" in imported_top_level_names("def main():\n    from server import create_app\n")
    assert "server" not in imported_top_level_names((ROOT / "cli.py").read_text())


def test_no_top_level_module_besides_server_and_cli() -> None:
    modules = sorted(path.name for path in ROOT.glob("*.py"))
    assert modules == ["cli.py", "server.py"]


def test_the_models_contract_forbids_every_runtime_dependency_but_tortoise() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["name"] == MODELS_CONTRACT]
    locked = {
        re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    importable = {
        name
        for name, distributions in importlib.metadata.packages_distributions().items()
        if not name.startswith("_")
        and any(re.sub(r"[-_.]+", "-", d).lower() in locked for d in distributions)
    }
    assert "tortoise" in importable
    assert importable - {"tortoise"} <= set(contract["forbidden_modules"])
    assert "tortoise" not in contract["forbidden_modules"]
