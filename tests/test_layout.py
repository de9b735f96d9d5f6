"""Repository layout: the source folders never shadow installed top-level packages.

``benchmark/``, ``methods/`` and ``datasets/`` are mapped into ``asebench`` by
setuptools; Python started in the repository root must still import Hugging
Face ``datasets`` (or any other installed ``benchmark``), and a non-editable
install must ship every sub-package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = {"benchmark": "asebench", "methods": "asebench.methods", "datasets": "asebench.datasets"}


def python(code: str, cwd: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_installed_datasets_and_benchmark_win_over_the_repo_folders(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "datasets").mkdir(parents=True)
    (site / "datasets" / "__init__.py").write_text("MARK = 'hf'\n")
    (site / "benchmark").mkdir()
    (site / "benchmark" / "__init__.py").write_text("MARK = 'other-benchmark'\n")
    code = (
        "import datasets, benchmark\n"
        "print(datasets.MARK, datasets.__file__)\n"
        "print(benchmark.MARK, benchmark.__file__)\n"
    )
    result = python(code, cwd=REPO_ROOT, extra_path=site)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == f"hf {site / 'datasets' / '__init__.py'}"
    assert second == f"other-benchmark {site / 'benchmark' / '__init__.py'}"


@pytest.mark.parametrize("where", ["repo-root", "elsewhere"])
def test_asebench_packages_import_from_any_directory(where: str, tmp_path: Path) -> None:
    cwd = REPO_ROOT if where == "repo-root" else tmp_path
    code = (
        "import asebench, asebench.datasets, asebench.methods, asebench.run.runner, asebench.cli\n"
        "import asebench.datasets.folder, asebench.methods.majority\n"
        "print(asebench.run.runner.__file__)\n"
        "print(asebench.methods.majority.__file__)\n"
    )
    result = python(code, cwd=cwd)
    assert result.returncode == 0, result.stderr
    runner_file, majority_file = map(Path, result.stdout.splitlines())
    assert runner_file == REPO_ROOT / "benchmark" / "run" / "runner.py"
    assert majority_file == REPO_ROOT / "methods" / "majority.py"


def test_every_source_directory_is_a_declared_package() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"] == {value: key for key, value in SOURCE_DIRS.items()}
    declared = set(setuptools["packages"])
    needed = set()
    for folder, package in SOURCE_DIRS.items():
        for directory in [REPO_ROOT / folder, *sorted(p for p in (REPO_ROOT / folder).rglob("*") if p.is_dir())]:
            if "__pycache__" in directory.parts or not any(directory.glob("*.py")):
                continue
            relative = directory.relative_to(REPO_ROOT / folder).parts
            needed.add(".".join([package, *relative]))
    assert needed <= declared, f"not shipped by a non-editable install: {sorted(needed - declared)}"
    assert declared <= needed | {"asebench"}, f"declared but missing: {sorted(declared - needed)}"


def test_sub_packages_have_init_files() -> None:
    """Sub-folders with code need __init__.py to be regular packages under asebench."""
    for folder in SOURCE_DIRS:
        for directory in (p for p in (REPO_ROOT / folder).rglob("*") if p.is_dir()):
            if "__pycache__" in directory.parts or not any(directory.glob("*.py")):
                continue
            assert (directory / "__init__.py").is_file(), directory


def test_top_level_source_folders_have_no_init_file() -> None:
    for folder in SOURCE_DIRS:
        assert (REPO_ROOT / folder).is_dir()
        assert not (REPO_ROOT / folder / "__init__.py").exists(), f"{folder}/__init__.py would make it importable"


def test_tests_folder_is_not_a_package() -> None:
    assert not (REPO_ROOT / "tests" / "__init__.py").exists()
