"""Editing a method's code recomputes exactly its cells, and the run says which files changed.

Two ``--plugin`` files written here hold one constant-predictor method each;
the tests edit one file's code (never its ``version``) between runs on the
tiny image folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asebench.cli.run_command import run_and_summarise
from asebench.run.config import RunConfig
from asebench.run.runner import CodeChange, RunOutcome
from asebench.store.run_directory import load_record

pytestmark = pytest.mark.usefixtures("isolated_methods")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TOY_PLUGIN = str(FIXTURES / "toy_methods.py")

PLUGIN_SOURCE = """\
import numpy as np

from asebench.api.method import Capabilities, Method, Predictions
from asebench.api.registry import register_method


@register_method({name!r})
class Constant(Method):
    family = "toy"
    capabilities = Capabilities(needs_training=False)

    def fit(self, train, val):
        self.num_classes = train.num_classes

    def predict(self, test):
        return Predictions.from_labels(np.full(len(test), {label}))
"""


def write_plugin(path: Path, name: str, label: int) -> str:
    path.write_text(PLUGIN_SOURCE.format(name=name, label=label), encoding="utf-8")
    return str(path)


def make_config(root: Path, run_dir: Path, plugins: list[str], methods: list[str], **overrides: Any) -> RunConfig:
    values: dict[str, Any] = {
        "methods": methods,
        "datasets": ["folder"],
        "dataset_options": {"folder": {"root": str(root)}},
        "tasks": ["multiclass"],
        "seeds": [0, 1],
        "device": "cpu",
        "run_dir": run_dir,
        "bootstrap": {"samples": 10},
        "plugins": plugins,
        "cell_cache": False,  # about what the run directory holds: no cell comes from another run
    }
    values.update(overrides)
    return RunConfig(**values)


def run(config: RunConfig) -> RunOutcome:
    return run_and_summarise(config)[0]


@pytest.fixture()
def two_plugins(tiny_folder_dataset: Callable[..., Path], tmp_path: Path) -> tuple[RunConfig, Path]:
    """A config of two plugin methods, ``edit-alpha`` (alpha_method.py) and ``edit-beta``; returns alpha's file."""
    alpha = tmp_path / "alpha_method.py"
    plugins = [write_plugin(alpha, "edit-alpha", 0), write_plugin(tmp_path / "beta_method.py", "edit-beta", 0)]
    config = make_config(tiny_folder_dataset(), tmp_path / "run", plugins, ["edit-alpha", "edit-beta"])
    return config, alpha


def test_editing_a_plugin_file_recomputes_exactly_its_cells(two_plugins: tuple[RunConfig, Path]) -> None:
    config, alpha = two_plugins
    first = run(config)
    assert (first.executed, first.reused, first.code_changes) == (4, 0, {})

    write_plugin(alpha, "edit-alpha", 1)  # the code changes, its version does not
    second = run(config)
    assert (second.executed, second.reused) == (2, 2)
    assert second.code_changes == {"edit-alpha": CodeChange(cells=2, changed_files=["alpha_method.py"])}
    assert second.dataset_code_changes == {}
    alpha_records = [r for r in second.records if r["cell"]["method"] == "edit-alpha"]
    assert all(set(r["predictions"]["y_pred"]) == {1} for r in alpha_records)  # the edited code ran

    third = run(config)
    assert (third.executed, third.reused, third.code_changes) == (0, 4, {})


def test_every_record_stores_its_method_and_dataset_code(
    tiny_folder_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    config = make_config(
        tiny_folder_dataset(), tmp_path / "run", [TOY_PLUGIN], ["toy-constant", "toy-fails", "toy-unavailable"]
    )
    outcome = run(config)
    assert sorted(r["status"] for r in outcome.records) == ["failed"] * 2 + ["ok"] * 2 + ["skipped"] * 2
    for record in outcome.records:
        code = record["method"]["code"]
        assert list(code["files"]) == ["toy_methods.py"] and len(code["digest"]) == 64
        assert "asebench.datasets.folder" in record["dataset"]["code"]["files"]


def test_cells_written_before_code_was_recorded_are_counted(two_plugins: tuple[RunConfig, Path]) -> None:
    config, _ = two_plugins
    run(config.model_copy(update={"methods": ["edit-beta"]}))
    for path in sorted((config.run_dir / "cells").glob("*.json")):  # as an asebench before issue 20 wrote it
        record = json.loads(path.read_text(encoding="utf-8"))
        del record["method"]["code"], record["dataset"]["code"]
        record["cell"]["config_hash"] = "0ld0ld0ld0"
        path.unlink()
        (path.parent / f"{path.name.rsplit('__', 1)[0]}__0ld0ld0ld0.json").write_text(json.dumps(record))

    outcome = run(config)
    assert (outcome.executed, outcome.reused) == (4, 0)
    assert outcome.code_changes == {"edit-beta": CodeChange(cells=2, unrecorded=True)}  # alpha had no earlier cells
    assert outcome.dataset_code_changes == {"folder": CodeChange(cells=2, unrecorded=True)}
    assert all(load_record(path)["status"] == "ok" for path in (config.run_dir / "cells").glob("*.json"))


def test_rerun_recomputes_everything_without_blaming_the_code(two_plugins: tuple[RunConfig, Path]) -> None:
    config, alpha = two_plugins
    run(config)
    write_plugin(alpha, "edit-alpha", 1)
    forced = run(config.model_copy(update={"rerun": True}))
    assert (forced.executed, forced.code_changes) == (4, {})


def test_the_cli_says_which_method_was_recomputed_and_why(
    two_plugins: tuple[RunConfig, Path], call_main: Callable[..., tuple[int, str, str]]
) -> None:
    config, alpha = two_plugins
    folder = config.dataset_options["folder"]["root"]
    arguments = ["run", "-m", "edit-alpha,edit-beta", "-d", f"folder:{folder}", "--tasks", "multiclass"]
    arguments += ["--seeds", "0,1", "--run-dir", config.run_dir, "--device", "cpu"]
    arguments += [option for plugin in config.plugins for option in ("--plugin", plugin)]
    code, out, err = call_main(*arguments)
    assert code == 0, err
    assert "recomputed" not in out

    write_plugin(alpha, "edit-alpha", 1)
    code, out, err = call_main(*arguments)
    assert code == 0, err
    assert "2 cell(s) computed, 2 reused" in out
    assert "edit-alpha: 2 cell(s) recomputed because its code changed (alpha_method.py)" in out
    assert "edit-beta:" not in out
