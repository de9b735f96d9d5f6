"""Type-check the package as it is installed: ``mypy -p asebench`` on a link farm of its three folders.

setuptools maps ``benchmark/`` to ``asebench``, ``methods/`` to ``asebench.methods`` and
``datasets/`` to ``asebench.datasets`` (``[tool.setuptools] package-dir``). The editable
install resolves that mapping with an import hook, which mypy does not run, so
``mypy -p asebench`` finds nothing; and mypy run on the folders sees modules named
``statistics`` or ``datasets`` instead of ``asebench.scoring.statistics``. This script
builds ``build/typecheck/asebench/`` (a symlink to every entry of ``benchmark/``, plus
``methods`` and ``datasets``), points ``MYPYPATH`` at it and runs mypy with the current
interpreter as ``--python-executable``, so third-party packages and stubs come from this
environment. The plugin examples the docs print (``docs/examples/*.py``) are checked
with it, as the top-level modules a ``--plugin`` file is imported as (a link each in
``build/typecheck/``). mypy's configuration is ``[tool.mypy]`` in ``pyproject.toml``. Paths in
mypy's messages are written back as the source paths (``benchmark/api/registry.py:12``).

    python scripts/typecheck.py [extra mypy arguments]

Exits with mypy's exit code (0: no errors).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "asebench"
# the folder that holds the package itself, and the folders mapped to its subpackages
# (must match [tool.setuptools] package-dir in pyproject.toml; a test checks that)
PACKAGE_DIR = "benchmark"
SUBPACKAGE_DIRS = {"methods": "methods", "datasets": "datasets"}
SKIPPED = {"__pycache__"}
# plugin files the docs print and the tests run: type-checked as users will write theirs, outside the package
EXAMPLE_DIRS = ("docs/examples",)


def farm_dir(root: Path = ROOT) -> Path:
    """The folder put on ``MYPYPATH``: it holds only the ``asebench`` link farm."""
    return root / "build" / "typecheck"


def build_link_farm(root: Path = ROOT, farm: Path | None = None) -> Path:
    """(Re)build ``<farm>/asebench`` (default ``build/typecheck/asebench``) from the source folders; return it."""
    package = (farm_dir(root) if farm is None else farm) / PACKAGE
    if package.is_symlink() or package.is_file():
        package.unlink()
    elif package.exists():
        shutil.rmtree(package)  # removes the links, never what they point to
    package.mkdir(parents=True)
    links = {entry.name: entry for entry in (root / PACKAGE_DIR).iterdir() if entry.name not in SKIPPED}
    for name, folder in SUBPACKAGE_DIRS.items():
        if name in links:
            raise RuntimeError(f"{PACKAGE_DIR}/{name} would hide the {folder}/ folder mapped to {PACKAGE}.{name}")
        links[name] = root / folder
    for name, target in sorted(links.items()):
        (package / name).symlink_to(os.path.relpath(target, package))
    return package


def example_files(root: Path = ROOT) -> list[Path]:
    """The plugin example files under :data:`EXAMPLE_DIRS`, checked as top-level modules named by their stem."""
    return sorted(path for folder in EXAMPLE_DIRS for path in (root / folder).glob("*.py"))


def link_examples(root: Path = ROOT, farm: Path | None = None) -> list[str]:
    """(Re)link every example file into the farm (stale links removed); return their module names."""
    farm = farm_dir(root) if farm is None else farm
    farm.mkdir(parents=True, exist_ok=True)
    for stale in farm.glob("*.py"):
        if stale.is_symlink():
            stale.unlink()
    modules = []
    for path in example_files(root):
        if (farm / path.name).exists():
            raise RuntimeError(f"two plugin examples are named {path.name}: mypy checks them as one module")
        (farm / path.name).symlink_to(os.path.relpath(path, farm))
        modules.append(path.stem)
    return modules


def source_path(path: str, root: Path = ROOT) -> str:
    """A path in the link farm (as mypy prints it, relative to the farm) as the source path in the repository."""
    parts = Path(path).parts
    if len(parts) == 1 and parts[0].endswith(".py"):  # a linked plugin example
        found = [Path(folder, parts[0]) for folder in EXAMPLE_DIRS if (root / folder / parts[0]).is_file()]
        return str(found[0]) if found else path
    if not parts or parts[0] != PACKAGE:
        return path
    inner = parts[1:]
    if inner and inner[0] in SUBPACKAGE_DIRS:
        return str(Path(SUBPACKAGE_DIRS[inner[0]], *inner[1:]))
    return str(Path(PACKAGE_DIR, *inner))


def _rewrite(line: str) -> str:
    path, sep, rest = line.partition(":")
    return source_path(path) + sep + rest if sep else line


def mypy_command(extra: Sequence[str] = (), root: Path = ROOT, modules: Sequence[str] = ()) -> list[str]:
    """The mypy call: the installed package (and the linked example ``modules``), this interpreter, the config."""
    config = str(root / "pyproject.toml")
    return [
        sys.executable,
        "-m",
        "mypy",
        "-p",
        PACKAGE,
        *(argument for module in modules for argument in ("-m", module)),
        "--python-executable",
        sys.executable,
        "--config-file",
        config,
        *extra,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    farm = farm_dir(ROOT)
    build_link_farm(ROOT, farm)
    modules = link_examples(ROOT, farm)
    env = {**os.environ, "MYPYPATH": str(farm)}
    # run inside the farm: mypy also searches the working directory, and the repository root holds
    # folders (datasets/, methods/) that must not be importable as top-level packages
    with subprocess.Popen(
        mypy_command(extra, ROOT, modules), cwd=farm, env=env, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(_rewrite(line))
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
