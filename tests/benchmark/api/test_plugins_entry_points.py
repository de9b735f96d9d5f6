"""Plugins from outside the tree: installed entry points, ``--plugin FILE`` and ``--plugin MODULE``."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asebench.store.run_directory import load_record

EXT_METHOD = '''
import numpy as np

from asebench.api.method import Method, Predictions


class ExtMethod(Method):
    """Majority class, shipped by an installed distribution (no decorator: the entry point names it)."""

    family = "external"
    description = "Majority class from an entry-point plugin."

    def fit(self, train, val):
        self.label = int(np.argmax(train.class_counts()))

    def predict(self, test):
        return Predictions.from_labels(np.full(len(test), self.label))
'''

MODULE_METHOD = """
import numpy as np

from asebench.api.method import Method, Predictions
from asebench.api.registry import register_method


@register_method("module-method")
class ModuleMethod(Method):
    family = "external"
    description = "Predicts class 0, loaded with --plugin my_ext_plugins.methods."

    def fit(self, train, val):
        pass

    def predict(self, test):
        return Predictions.from_labels(np.zeros(len(test), dtype=np.int64))
"""


def fake_distribution(site: Path, package: str, dist_name: str, entry_points: str, init_source: str) -> None:
    """A minimal installed distribution: a package plus ``<name>-0.1.dist-info`` with entry points."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(textwrap.dedent(init_source), encoding="utf-8")
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    """A directory of fake installed distributions: one good entry point, one broken."""
    site = tmp_path / "site"
    fake_distribution(
        site,
        "ext_plugin_pkg",
        "ext-plugin-pkg",
        "[asebench.methods]\next-method = ext_plugin_pkg:ExtMethod\n",
        EXT_METHOD,
    )
    fake_distribution(
        site,
        "ext_broken_pkg",
        "ext-broken-pkg",
        "[asebench.methods]\next-broken = ext_broken_pkg:Broken\n",
        'raise ImportError("ext_broken_pkg needs not_a_real_dependency")\n',
    )
    return site


def with_pythonpath(*paths: Path) -> dict[str, str]:
    existing = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join([*map(str, paths), *([existing] if existing else [])])}


def table_row(output: str, name: str) -> list[str] | None:
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if len(cells) > 1 and cells[0] == name:
            return cells
    return None


def test_entry_point_methods_are_listed_with_their_distribution(site: Path, run_cli: Callable[..., Any]) -> None:
    result = run_cli("list", env=with_pythonpath(site))
    assert result.returncode == 0, result.stderr
    ext = table_row(result.stdout, "ext-method")
    assert ext is not None, result.stdout
    assert ext[1] == "external"
    assert ext[3] == "entry point of ext-plugin-pkg"
    assert ext[-1] == "yes"
    broken = table_row(result.stdout, "ext-broken")
    assert broken is not None
    assert broken[-1].startswith("broken:")
    assert "ext_broken_pkg needs not_a_real_dependency" in broken[-1]
    assert table_row(result.stdout, "majority") is not None
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture()
def multiclass_config(tiny_folder_dataset: Callable[..., Path], write_run_config: Callable[..., Path]) -> Path:
    """A run config for the tiny folder dataset, multiclass task only."""
    return write_run_config(tiny_folder_dataset(), tasks=["multiclass"])


@pytest.fixture()
def run_with_site(
    site: Path, multiclass_config: Path, run_cli: Callable[..., Any], tmp_path: Path
) -> Callable[[str], tuple[Any, Path]]:
    """``asebench run --methods METHODS`` on the tiny dataset with the fake installed packages on the path."""

    def call(methods: str) -> tuple[Any, Path]:
        run_dir = tmp_path / "run"
        args = ("run", "-c", multiclass_config, "--run-dir", run_dir, "--methods", methods)
        return run_cli(*args, env=with_pythonpath(site)), run_dir

    return call


def test_entry_point_method_runs_beside_a_broken_one(run_with_site: Callable[[str], tuple[Any, Path]]) -> None:
    result, run_dir = run_with_site("ext-method,majority")
    assert result.returncode == 0, result.stderr
    records = {load_record(p)["cell"]["method"]: load_record(p) for p in (run_dir / "cells").glob("*.json")}
    assert set(records) == {"ext-method", "majority"}
    assert all(r["status"] == "ok" for r in records.values())
    assert records["ext-method"]["method"]["class"] == "ext_plugin_pkg:ExtMethod"
    assert records["ext-method"]["predictions"]["y_pred"] == records["majority"]["predictions"]["y_pred"]


def test_plugin_file_and_plugin_module(
    multiclass_config: Path,
    run_cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    modules = tmp_path / "modules"
    (modules / "my_ext_plugins").mkdir(parents=True)
    (modules / "my_ext_plugins" / "__init__.py").write_text("")
    (modules / "my_ext_plugins" / "methods.py").write_text(textwrap.dedent(MODULE_METHOD))
    config = multiclass_config
    run_dir = tmp_path / "run"
    result = run_cli(
        "run",
        "-c",
        config,
        "--run-dir",
        run_dir,
        "--methods",
        "toy-constant,module-method",
        "--plugin",
        "tests/fixtures/toy_methods.py",
        "--plugin",
        "my_ext_plugins.methods",
        env=with_pythonpath(modules),
    )
    assert result.returncode == 0, result.stderr
    records = {load_record(p)["cell"]["method"]: load_record(p) for p in (run_dir / "cells").glob("*.json")}
    assert set(records) == {"toy-constant", "module-method"}
    assert all(r["status"] == "ok" for r in records.values())
    assert records["module-method"]["method"]["class"] == "my_ext_plugins.methods:ModuleMethod"
    assert "warning" not in result.stderr


def test_missing_plugin_module_is_listed_then_an_error(run_cli: Callable[..., Any]) -> None:
    result = run_cli("list", "--plugin", "no_such_plugin_module_xyz")
    assert result.returncode == 2, result.stderr
    row = table_row(result.stdout, "--plugin no_such_plugin_module_xyz")
    assert row is not None and "ModuleNotFoundError" in row[1]
    assert table_row(result.stdout, "majority") is not None  # the rest is still listed
    assert "error: --plugin no_such_plugin_module_xyz failed to load: ModuleNotFoundError" in result.stderr
    assert "importlib" not in result.stderr  # no location inside the import machinery


def test_glob_matching_a_broken_entry_point_still_runs_the_others(
    run_with_site: Callable[[str], tuple[Any, Path]],
) -> None:
    result, run_dir = run_with_site("ext-*")
    methods = {load_record(p)["cell"]["method"] for p in (run_dir / "cells").glob("*.json")}
    assert "ext-method" in methods, result.stderr
    assert result.returncode in (0, 1)
    # found on its own, not named by the user: the run goes on, and the warning says why, not "see asebench list"
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert "ext-broken" in warning and "ext_broken_pkg needs not_a_real_dependency" in warning, result.stderr
    assert "asebench list" not in warning
