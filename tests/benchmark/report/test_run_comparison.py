"""``asebench compare``: two runs of one grid agree; any drift in a cell is named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from asebench.cli.run_command import run_and_summarise
from asebench.report.run_comparison import compare_runs, environment_changes
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


def test_the_environment_keys_that_differ_are_named_next_to_the_cell_that_differs(
    two_runs: tuple[Path, Path], run_cli: Any
) -> None:
    first, second = two_runs
    edit_record(cell_path(first, "majority"), lambda r: r["environment"].update(torch={"torch": "2.4.0", "threads": 4}))

    def drift(record: dict[str, Any]) -> None:
        record["environment"].update(torch={"torch": "2.4.0", "threads": 1})
        record["metrics"]["macro_f1"] += 0.14

    edit_record(cell_path(second, "majority"), drift)
    # another cell's environment differs too, but its results agree: nothing to explain there
    edit_record(cell_path(second, "majority", seed=1), lambda r: r["environment"].update(git="another-commit"))
    comparison = compare_runs(first, second)
    label = "majority | folder multiclass | seed 0 fold 0"
    assert list(comparison.cell_environment_changes) == [label]
    assert [str(c) for c in comparison.cell_environment_changes[label]] == ["torch.threads: 4 -> 1"]
    result = run_cli("compare", first, second)
    assert result.returncode == 1
    assert f"environment of {label}: torch.threads: 4 -> 1" in result.stdout
    assert "another-commit" not in result.stdout
    assert "16 matched cell(s), 0 only in A, 0 only in B, 1 difference(s)" in result.stdout


ENVIRONMENT: dict[str, Any] = {
    "schema": 2,
    "python": "3.11.7",
    "cpu": {"model": "Xeon", "vendor": "GenuineIntel", "flags": ["avx", "avx2", "avx512f"], "usable_cores": 8},
    "git": "abc",
    "torch": {"torch": "2.4.0", "threads": 8, "cpu_capability": "AVX512"},
    "threadpools": [
        {"user_api": "blas", "internal_api": "openblas", "num_threads": 8, "filename": "libopenblas-1.so"},
        {"user_api": "openmp", "internal_api": "openmp", "num_threads": 8, "filename": "libgomp.so.1"},
    ],
    "env_vars": {"OMP_NUM_THREADS": None},
}


def changed(environment: dict[str, Any], change: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(environment))
    change(copy)
    return copy


def test_environment_changes_are_dotted_paths_with_threadpools_named_by_library() -> None:
    def move(env: dict[str, Any]) -> None:
        env["cpu"]["flags"] = ["avx", "avx2"]
        env["torch"]["cpu_capability"] = "AVX2"
        env["threadpools"][0]["num_threads"] = 1
        env["created_at"] = "2026-01-01"  # noise: never a difference
        env["env_vars"]["MKL_CBWR"] = "AVX2"  # a key the same format records on one side only

    older: dict[str, set[str]] = {}
    changes = [str(c) for c in environment_changes(ENVIRONMENT, changed(ENVIRONMENT, move), older)]
    assert changes == [
        "cpu.flags: avx512f -> (none)",
        "env_vars.MKL_CBWR: absent -> AVX2",
        "threadpools.openblas.num_threads: 8 -> 1",
        "torch.cpu_capability: AVX512 -> AVX2",
    ]
    assert older == {}

    def second_openmp(env: dict[str, Any]) -> None:
        env["threadpools"].append({"user_api": "openmp", "internal_api": "openmp", "filename": "libgomp-e9.so.1"})

    changes = [str(c) for c in environment_changes(ENVIRONMENT, changed(ENVIRONMENT, second_openmp), older)]
    assert changes == [
        "threadpools.openmp[libgomp-e9.so.1]: absent -> {user_api=openmp, internal_api=openmp, filename=libgomp-e9.so.1}"
    ]  # two of a kind on one side: both sides' pools are named by their file
    no_torch = changed(ENVIRONMENT, lambda env: env.update(torch={}))
    assert [c.path for c in environment_changes(no_torch, ENVIRONMENT, older)] == ["torch"]


def test_keys_an_older_record_format_lacks_are_no_difference() -> None:
    old = {"python": "3.11.7", "git": "abc", "torch": {"torch": "2.4.0", "threads": 8}}
    older: dict[str, set[str]] = {}
    assert environment_changes(old, ENVIRONMENT, older) == []
    assert older == {"A": {"schema", "cpu", "threadpools", "env_vars", "torch.cpu_capability"}}
    older.clear()
    newer_torch_missing = changed(ENVIRONMENT, lambda env: env["torch"].pop("threads"))
    assert [str(c) for c in environment_changes(old, newer_torch_missing, older)] == ["torch.threads: 8 -> absent"]


def test_an_environment_difference_between_the_runs_is_printed_when_no_cell_differs(
    two_runs: tuple[Path, Path], run_cli: Any
) -> None:
    first, second = two_runs
    old = {key: ENVIRONMENT[key] for key in ("python", "git")} | {"torch": {"torch": "2.4.0", "threads": 8}}
    (first / "environment.json").write_text(json.dumps(old))
    (second / "environment.json").write_text(json.dumps(changed(ENVIRONMENT, lambda env: env.update(git="def"))))
    result = run_cli("compare", first, second)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert (
        "environment: 1 difference(s) between the runs: git: abc -> def; "
        "B records cpu, env_vars, threadpools, torch details that A's older record format lacks"
    ) in lines
    assert "0 difference(s)" in result.stdout and "the runs agree" in result.stdout
    assert "environment of" not in result.stdout


def test_a_cell_recomputed_after_an_edit_is_compared_with_its_newest_record_and_the_edit_named(
    two_runs: tuple[Path, Path], run_cli: Any
) -> None:
    """After an edit the directory holds the old record and the new one: the newest is compared, the edit named."""
    first, second = two_runs
    old = cell_path(second, "majority")
    record = json.loads(old.read_text())
    record["cell"]["config_hash"] = "edited0001"
    record["created_at"] = "2999-01-01T00:00:00+00:00"
    record["method"]["options"] = {**record["method"].get("options", {}), "strategy": "other"}
    record["method"]["code"] = {"digest": "new", "files": {"my_plugin.py": "bbbbbbbbbbbb"}}
    record["metrics"]["macro_f1"] += 0.1
    (old.parent / old.name.replace(old.name.split("__")[-1], "edited0001.json")).write_text(json.dumps(record))
    comparison = compare_runs(first, second)
    label = "majority | folder multiclass | seed 0 fold 0"
    assert comparison.matched == 16 and not comparison.only_first and not comparison.only_second
    assert comparison.reconfigured == 1
    explained = [str(change) for change in comparison.cell_environment_changes[label]]
    assert explained[0].startswith("config_hash: ") and explained[0].endswith(" -> edited0001")
    assert "method.options.strategy: absent -> other" in explained
    assert any(line.startswith("method.code[my_plugin.py]: ") and line.endswith("-> bbbbbbbb") for line in explained)
    result = run_cli("compare", first, second)
    assert result.returncode == 1
    assert "configuration: 1 matched cell(s) have different config hashes" in result.stdout
