"""``asebench compare``: two runs of one grid agree; any drift in a cell is named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from asebench.cli.run_command import run_and_summarise
from asebench.report.run_comparison import compare_runs
from asebench.run.config import RunConfig
from asebench.run.runner import RunOutcome


def run(config: RunConfig) -> RunOutcome:
    """A run as ``asebench run`` does it: the records, then the summary files built from them."""
    return run_and_summarise(config)[0]


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture()
def two_runs(tiny_folder_dataset: Any, tmp_path: Path) -> tuple[Path, Path]:
    """The same grid (an ok, a skipped and a failed method; two seeds) run twice into two directories."""
    root = tiny_folder_dataset()
    directories = []
    for name in ("first", "second"):
        config = RunConfig(
            methods=["majority", "toy-constant", "toy-unavailable", "toy-fails"],
            datasets=["folder"],
            dataset_options={"folder": {"root": str(root)}},
            seeds=[0, 1],
            device="cpu",
            run_dir=tmp_path / name,
            bootstrap={"samples": 10},
            plugins=[str(FIXTURES / "toy_methods.py")],
        )
        run(config)
        directories.append(tmp_path / name)
    return directories[0], directories[1]


def cell_path(run_dir: Path, method: str, seed: int = 0, task: str = "multiclass") -> Path:
    (path,) = (run_dir / "cells").glob(f"*__{task}__{method}__s{seed}_*.json")
    return path


def edit_record(path: Path, change: Any) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def test_the_same_grid_run_twice_agrees_everywhere(two_runs: tuple[Path, Path]) -> None:
    comparison = compare_runs(*two_runs)
    assert comparison.identical
    assert comparison.matched == len(list((two_runs[0] / "cells").glob("*.json"))) == 16
    assert comparison.max_probability_difference == 0.0
    assert comparison.stored_summaries_identical is True


def test_stored_summary_files_that_differ_fail_the_comparison(two_runs: tuple[Path, Path]) -> None:
    first, second = two_runs
    summary = second / "summary.csv"
    summary.write_text(summary.read_text().replace("-> normal", "-> type2"))
    comparison = compare_runs(first, second)
    assert comparison.summary_identical and not comparison.differences
    assert comparison.stored_summaries_identical is False and not comparison.identical
    summary.unlink()
    assert compare_runs(first, second).stored_summaries_identical is None and compare_runs(first, second).identical


def test_a_changed_prediction_metric_and_probability_are_each_named(two_runs: tuple[Path, Path]) -> None:
    first, second = two_runs

    def drift(record: dict[str, Any]) -> None:
        record["predictions"]["y_pred"][0] = 1 - record["predictions"]["y_pred"][0]
        record["predictions"]["probabilities"][0][0] += 1e-3
        record["metrics"]["macro_f1"] += 0.01

    edit_record(cell_path(second, "majority"), drift)
    comparison = compare_runs(first, second)
    fields = {d.field for d in comparison.differences}
    assert fields == {"predictions.y_pred", "predictions.probabilities", "metrics.macro_f1"}
    assert {d.cell for d in comparison.differences} == {"majority | folder multiclass | seed 0 fold 0"}
    (labels,) = [d for d in comparison.differences if d.field == "predictions.y_pred"]
    assert labels.first.startswith("1 of ") and labels.second == "differ"
    assert comparison.max_probability_difference == pytest.approx(1e-3)
    assert not comparison.summary_identical and not comparison.identical


def test_tolerance_accepts_small_numeric_drift_but_never_other_labels(two_runs: tuple[Path, Path]) -> None:
    first, second = two_runs
    edit_record(
        cell_path(second, "majority"),
        lambda r: r["predictions"]["probabilities"][0].__setitem__(0, r["predictions"]["probabilities"][0][0] + 1e-6),
    )
    assert not compare_runs(first, second).identical
    assert compare_runs(first, second, tolerance=1e-5).identical
    edit_record(cell_path(second, "toy-constant", seed=1), lambda r: r["predictions"]["y_pred"].__setitem__(0, 2))
    assert [d.field for d in compare_runs(first, second, tolerance=1.0).differences] == ["predictions.y_pred"]


def test_status_changes_and_missing_cells_are_reported(two_runs: tuple[Path, Path]) -> None:
    first, second = two_runs
    edit_record(cell_path(second, "toy-fails"), lambda r: r.update(status="skipped", skip_reason="gone"))
    cell_path(second, "majority", seed=1, task="binary").unlink()
    comparison = compare_runs(first, second)
    assert [(d.field, d.first, d.second) for d in comparison.differences] == [("status", "failed", "skipped")]
    assert comparison.only_first == ["majority | folder binary | seed 1 fold 0"] and comparison.only_second == []


def test_cli_exits_0_when_runs_agree_and_1_naming_the_difference(
    two_runs: tuple[Path, Path], run_cli: Any, tmp_path: Path
) -> None:
    first, second = two_runs
    agree = run_cli("compare", first, second)
    assert agree.returncode == 0, agree.stderr
    assert "16 matched cell(s), 0 only in A, 0 only in B, 0 difference(s)" in agree.stdout
    assert "summary table identical; stored summary.csv identical" in agree.stdout and "the runs agree" in agree.stdout
    copy = tmp_path / "copy"
    shutil.copytree(second, copy)
    edit_record(cell_path(copy, "majority"), lambda r: r["metrics"].update(accuracy=0.0))
    differ = run_cli("compare", first, copy)
    assert differ.returncode == 1
    assert "metrics.accuracy" in differ.stdout and "majority | folder multiclass | seed 0 fold 0" in differ.stdout
    missing = run_cli("compare", first, tmp_path / "nowhere")
    assert missing.returncode == 2 and "not a run directory" in missing.stderr
