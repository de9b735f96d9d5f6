"""The architecture, checked: what the README's layout section promises holds in the tree.

* the core (``benchmark/`` = ``asebench``) is grouped by job, no folder holds more than
  :data:`MAX_MODULES` modules and no module is longer than :data:`MAX_LINES` lines;
* data flows one way: contracts (``api``) import nothing above them, scoring never
  imports the run loop or reports, only ``report`` and ``cli`` import ``report``,
  nothing but ``cli`` imports ``cli``, and methods never import datasets.

Imports are read with :mod:`ast`, including the ones inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = {"benchmark": "asebench", "methods": "asebench.methods", "datasets": "asebench.datasets"}
MAX_MODULES = 12
MAX_LINES = 400

# importer package -> asebench packages it must never import
FORBIDDEN = {
    "asebench.api": (
        "asebench.run",
        "asebench.scoring",
        "asebench.store",
        "asebench.report",
        "asebench.cli",
        "asebench.components",
        "asebench.annotation",
        "asebench.domains",
        "asebench.methods",
        "asebench.datasets",
    ),
    "asebench.scoring": ("asebench.run", "asebench.report", "asebench.cli", "asebench.methods", "asebench.datasets"),
    "asebench.store": (
        "asebench.run",
        "asebench.scoring",
        "asebench.report",
        "asebench.cli",
        "asebench.methods",
        "asebench.datasets",
    ),
    "asebench.run": ("asebench.report", "asebench.cli", "asebench.methods", "asebench.datasets"),
    "asebench.report": (
        "asebench.run.runner",
        "asebench.run.cell",
        "asebench.run.jobs",
        "asebench.run.executors",
        "asebench.cli",
        "asebench.methods",
        "asebench.datasets",
    ),
    "asebench.methods": ("asebench.datasets", "asebench.run", "asebench.report", "asebench.cli"),
    "asebench.datasets": ("asebench.methods", "asebench.run", "asebench.report", "asebench.cli"),
}


def modules() -> Iterator[tuple[str, Path]]:
    """Every source module as (dotted name, path)."""
    for folder, package in SOURCE_DIRS.items():
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO_ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join([package, *parts]), path


def imported(path: Path) -> set[str]:
    """The absolute module names a file imports, anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_no_core_folder_holds_more_than_twelve_modules() -> None:
    crowded = {}
    for directory in [REPO_ROOT / "benchmark", *(p for p in (REPO_ROOT / "benchmark").rglob("*") if p.is_dir())]:
        count = len([p for p in directory.glob("*.py") if p.name != "__init__.py"])
        if count > MAX_MODULES:
            crowded[str(directory.relative_to(REPO_ROOT))] = count
    assert not crowded, f"folders over {MAX_MODULES} modules: {crowded}"


def test_no_module_is_longer_than_four_hundred_lines() -> None:
    long = {
        str(path.relative_to(REPO_ROOT)): n
        for _, path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize("importer", sorted(FORBIDDEN))
def test_dependencies_point_one_way(importer: str) -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, path in modules()
        if within(name, importer)
        for target in imported(path)
        if any(within(target, banned) for banned in FORBIDDEN[importer])
    )
    assert not wrong, "\n".join(wrong)


def test_only_report_and_cli_import_report_and_only_cli_imports_cli() -> None:
    wrong = []
    for name, path in modules():
        for target in imported(path):
            if within(target, "asebench.report") and not (
                within(name, "asebench.report") or within(name, "asebench.cli")
            ):
                wrong.append(f"{name} imports {target}")
            if within(target, "asebench.cli") and not within(name, "asebench.cli"):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)
