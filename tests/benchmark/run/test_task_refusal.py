"""A method that declares ``binary_only`` has its multiclass cells skipped with the reason, not failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asebench.api.data import Task
from asebench.api.method import Capabilities, task_refusal
from asebench.cli.run_command import run_and_summarise
from asebench.run.config import build_config

pytestmark = pytest.mark.usefixtures("isolated_methods")

PLUGIN = str(Path(__file__).resolve().parents[2] / "fixtures" / "anomaly_methods.py")


def test_binary_only_methods_refuse_the_multiclass_task_only() -> None:
    binary_only = Capabilities(anomaly_detector=True, binary_only=True)
    assert task_refusal(binary_only, Task.BINARY, "knn") is None
    reason = task_refusal(binary_only, Task.MULTICLASS, "knn")
    assert reason is not None and "knn" in reason and "cannot tell defect types apart" in reason
    assert task_refusal(Capabilities(), Task.MULTICLASS, "majority") is None
    assert "binary task only" in binary_only.labels()


def test_a_holdout_run_skips_the_multiclass_cells_of_a_binary_only_method(
    tmp_path: Path, tiny_folder_dataset: Any
) -> None:
    root = tiny_folder_dataset()
    values: dict[str, Any] = {
        "methods": ["spy-anomaly-binary"],
        "datasets": [f"folder:{root}"],
        "plugins": [PLUGIN],
        "device": "cpu",
        "run_dir": tmp_path / "run",
        "bootstrap": {"samples": 0},
    }
    outcome, _ = run_and_summarise(build_config(values))
    by_task = {r["cell"]["task"]: r for r in outcome.records}
    assert by_task["binary"]["status"] == "ok"
    assert by_task["multiclass"]["status"] == "skipped"
    assert "cannot tell defect types apart" in by_task["multiclass"]["skip_reason"]
    again, _ = run_and_summarise(build_config(values))  # the skipped cell is reused like any skipped cell
    assert again.reused == 2 and again.executed == 0
