"""The run loop end to end on a tiny image folder: records, summaries, reuse (run directory, cell cache), failures, kills."""

from __future__ import annotations

import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.api.data import Task
from asebench.api.records import SCHEMA_VERSION
from asebench.api.reproducibility import derived_seeds
from asebench.cli.run_command import run_and_summarise
from asebench.datasets.folder import FolderDataset, FolderOptions
from asebench.run.config import RunConfig
from asebench.run.runner import RunOutcome
from asebench.run.splits import SplitConfig, make_split
from asebench.scoring.cell import score_cell
from asebench.scoring.tail import TailConfig
from asebench.store.run_directory import RunDirectory, load_record


def run(config: RunConfig) -> RunOutcome:
    """A run as ``asebench run`` does it: the records, then the summary files built from them."""
    return run_and_summarise(config)[0]


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TOY_PLUGIN = str(FIXTURES / "toy_methods.py")
SLOW_PLUGIN = FIXTURES / "slow_method.py"


def make_config(root: Path, run_dir: Path, **overrides: Any) -> RunConfig:
    values: dict[str, Any] = {
        "methods": ["majority"],
        "datasets": ["folder"],
        "dataset_options": {"folder": {"root": str(root)}},
        "seeds": [0],
        "device": "cpu",
        "run_dir": run_dir,
        "bootstrap": {"samples": 20},
        "plugins": [TOY_PLUGIN],
    }
    values.update(overrides)
    return RunConfig(**values)


def cell_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "cells").glob("*.json"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def jsonable(value: Any) -> Any:
    """What a value looks like after the JSON round trip of a record."""
    return json.loads(json.dumps(value))


@pytest.fixture()
def tiny_root(tiny_folder_dataset: Any) -> Path:
    return tiny_folder_dataset()


# -- one run of majority --------------------------------------------------------------------


@pytest.fixture()
def majority_run(tiny_root: Path, tmp_path: Path) -> tuple[RunConfig, RunOutcome]:
    config = make_config(tiny_root, tmp_path / "run", bootstrap={"samples": 20, "confidence": 0.9})
    return config, run(config)


def test_run_writes_every_artifact(majority_run: tuple[RunConfig, RunOutcome]) -> None:
    config, outcome = majority_run
    run_dir = config.run_dir
    for name in ("config.json", "environment.json", "summary.csv", "summary.md", "per_class.csv", "results.json"):
        assert (run_dir / name).is_file(), name
    files = cell_files(run_dir)
    assert len(files) == 2  # binary + multiclass, one seed
    assert outcome.executed == 2 and outcome.reused == 0
    assert all(load_record(path)["status"] == "ok" for path in files)

    saved_config = json.loads((run_dir / "config.json").read_text())
    assert saved_config["schema_version"] == SCHEMA_VERSION
    assert RunConfig.model_validate(saved_config["config"]) == config
    results = json.loads((run_dir / "results.json").read_text())
    assert results["schema_version"] == SCHEMA_VERSION
    assert len(results["cells"]) == 2
    assert {row["task"] for row in results["summary"]} == {"binary", "multiclass"}
    environment = json.loads((run_dir / "environment.json").read_text())
    assert environment["python"] and "numpy" in environment["packages"]

    summary = read_csv(run_dir / "summary.csv")
    assert [(row["task"], row["method"], row["status"], row["cells"]) for row in summary] == [
        ("binary", "majority", "ok", "1"),
        ("multiclass", "majority", "ok", "1"),
    ]
    assert "majority" in (run_dir / "summary.md").read_text()
    per_class = read_csv(run_dir / "per_class.csv")
    assert {row["class"] for row in per_class if row["task"] == "multiclass"} == {"normal", "type1", "type2"}
    assert {row["class"] for row in per_class if row["task"] == "binary"} == {"normal", "defect"}


def test_record_carries_everything_needed_to_reproduce_it(
    majority_run: tuple[RunConfig, RunOutcome], tiny_root: Path
) -> None:
    config, _ = majority_run
    dataset = FolderDataset(FolderOptions(root=tiny_root)).load()
    split = make_split(dataset.labels(Task.MULTICLASS), config.split, seed=0)
    ids = [sample.id for sample in dataset.samples]
    label_of = {sample.id: sample.label for sample in dataset.samples}
    for path in cell_files(config.run_dir):
        record = load_record(path)
        assert record["schema_version"] == SCHEMA_VERSION
        assert record["cell"]["method"] == "majority" and record["cell"]["seed"] == 0
        assert record["method"]["name"] == "majority"
        assert record["method"]["options"] == {}
        assert RunConfig.model_validate(record["config"]) == config
        assert record["environment"]["python"] == sys.version.split()[0]
        assert record["dataset"]["fingerprint"] == dataset.fingerprint
        assert record["split"]["digest"] == split.digest(ids)
        assert record["run"]["seeds"] == derived_seeds(0)
        assert set(record["timings"]) >= {"fit_s", "predict_s", "total_s"}
        predictions = record["predictions"]
        assert predictions["ids"] == [ids[i] for i in split.test]
        task = Task(record["cell"]["task"])
        class_names = record["dataset"]["class_names"]
        expected_true = [
            class_names.index(label_of[i]) if task is Task.MULTICLASS else int(label_of[i] != "normal")
            for i in predictions["ids"]
        ]
        assert predictions["y_true"] == expected_true
        assert len(predictions["y_pred"]) == len(predictions["ids"]) == len(predictions["probabilities"])


def test_metrics_are_recomputable_from_stored_predictions(majority_run: tuple[RunConfig, RunOutcome]) -> None:
    config, _ = majority_run
    for path in cell_files(config.run_dir):
        record = load_record(path)  # the record alone is enough: it carries its run config
        predictions = record["predictions"]
        metrics, tail = score_cell(
            predictions["y_true"],
            predictions["y_pred"],
            record["dataset"]["class_names"],
            Task(record["cell"]["task"]),
            record["split"]["train_counts"],
            TailConfig.model_validate(record["config"]["tail"]),
            bootstrap_samples=record["config"]["bootstrap"]["samples"],
            bootstrap_seed=record["metrics"]["bootstrap"]["seed"],
            bootstrap_confidence=record["config"]["bootstrap"]["confidence"],
        )
        assert jsonable(metrics) == record["metrics"]
        assert jsonable(tail) == record["tail"]


def test_majority_summary_matches_records(majority_run: tuple[RunConfig, RunOutcome]) -> None:
    config, outcome = majority_run
    by_task = {r["cell"]["task"]: r for r in outcome.records}
    for row in read_csv(config.run_dir / "summary.csv"):
        assert float(row["macro_f1_mean"]) == pytest.approx(by_task[row["task"]]["metrics"]["macro_f1"], abs=1e-6)


# -- seeds and splits -------------------------------------------------------------------------


def test_two_seeds_give_two_cells_per_task_and_mean_std(tiny_root: Path, tmp_path: Path) -> None:
    config = make_config(tiny_root, tmp_path / "run", methods=["majority", "toy-constant"], seeds=[0, 1])
    outcome, rows = run_and_summarise(config)
    assert len(cell_files(config.run_dir)) == 8  # 2 methods x 2 tasks x 2 seeds
    for row in rows:
        scores = [
            r["metrics"]["macro_f1"]
            for r in outcome.records
            if (r["cell"]["task"], r["cell"]["method"]) == (row["task"], row["method"])
        ]
        assert row["cells"] == 2 and len(scores) == 2
        assert row["macro_f1_mean"] == pytest.approx(statistics.fmean(scores))
        assert row["macro_f1_std"] == pytest.approx(statistics.stdev(scores))
    assert "±" in (config.run_dir / "summary.md").read_text()

    # the same seed draws the same split for every method and both tasks; another seed does not
    digests: dict[int, set[str]] = {0: set(), 1: set()}
    for record in outcome.records:
        digests[record["cell"]["seed"]].add(record["split"]["digest"])
    assert len(digests[0]) == 1 and len(digests[1]) == 1
    assert digests[0] != digests[1]


def test_split_digest_is_the_same_across_separate_runs(tiny_root: Path, tmp_path: Path) -> None:
    first = run(make_config(tiny_root, tmp_path / "a", methods=["majority"], tasks=["binary"]))
    second = run(make_config(tiny_root, tmp_path / "b", methods=["toy-constant"], tasks=["multiclass"]))
    assert first.records[0]["split"]["digest"] == second.records[0]["split"]["digest"]


# -- reuse ------------------------------------------------------------------------------------


def test_rerun_reuses_finished_cells_and_rerun_flag_recomputes(tiny_root: Path, tmp_path: Path) -> None:
    config = make_config(tiny_root, tmp_path / "run", seeds=[0, 1])
    first = run(config)
    assert (first.executed, first.reused) == (4, 0)
    stamps = {p.name: (p.stat().st_mtime_ns, load_record(p)["created_at"]) for p in cell_files(config.run_dir)}

    again = run(config)
    assert (again.executed, again.reused) == (0, 4)
    assert {p.name: (p.stat().st_mtime_ns, load_record(p)["created_at"]) for p in cell_files(config.run_dir)} == stamps
    assert [r["metrics"] for r in again.records] == [r["metrics"] for r in first.records]

    forced = run(config.model_copy(update={"rerun": True}))
    assert (forced.executed, forced.reused) == (4, 0)
    assert sorted(p.name for p in cell_files(config.run_dir)) == sorted(stamps)
    assert all(p.stat().st_mtime_ns != stamps[p.name][0] for p in cell_files(config.run_dir))


def test_changing_a_method_option_gives_a_new_cell_and_keeps_the_old(tiny_root: Path, tmp_path: Path) -> None:
    config = make_config(tiny_root, tmp_path / "run", methods=["toy-constant"], tasks=["multiclass"])
    first = run(config)
    second = run(config.model_copy(update={"method_options": {"toy-constant": {"label": 1}}}))
    assert second.executed == 1 and second.reused == 0
    old, new = first.records[0], second.records[0]
    assert old["cell"]["config_hash"] != new["cell"]["config_hash"]
    assert new["method"]["options"] == {"label": 1} and old["method"]["options"] == {"label": 0}
    assert new["config"]["method_options"] == {"toy-constant": {"label": 1}}
    assert len(cell_files(config.run_dir)) == 2
    assert set(new["predictions"]["y_pred"]) == {1}


# -- failures and skips -----------------------------------------------------------------------


def test_failing_and_unavailable_methods_are_recorded_and_others_finish(tiny_root: Path, tmp_path: Path) -> None:
    config = make_config(tiny_root, tmp_path / "run", methods=["toy-fails", "majority", "toy-nan", "toy-unavailable"])
    outcome = run(config)
    assert len(cell_files(config.run_dir)) == 8
    by_method: dict[str, list[dict[str, Any]]] = {}
    for record in (load_record(p) for p in cell_files(config.run_dir)):
        by_method.setdefault(record["cell"]["method"], []).append(record)

    assert all(r["status"] == "ok" and "metrics" in r for r in by_method["majority"])
    for record in by_method["toy-fails"]:
        assert record["status"] == "failed"
        assert record["error"]["type"] == "RuntimeError"
        assert record["error"]["message"] == "toy-fails: deliberate failure in fit"
        assert "metrics" not in record
    for record in by_method["toy-nan"]:
        assert record["status"] == "failed"
        assert record["error"]["type"] == "NonFiniteLossError"
        assert "nan" in record["error"]["message"]
    for record in by_method["toy-unavailable"]:
        assert record["status"] == "skipped"
        assert record["skip_reason"] == "toy-unavailable needs the weights file /nowhere/toy-weights.bin"
    assert len(outcome.failed) == 4

    rows = {(r["task"], r["method"]): r for r in read_csv(config.run_dir / "summary.csv")}
    assert rows[("binary", "toy-fails")]["status"] == "failed"
    assert rows[("binary", "toy-fails")]["note"] == "toy-fails: deliberate failure in fit"
    assert rows[("multiclass", "toy-unavailable")]["status"] == "skipped"
    assert "toy-weights.bin" in rows[("multiclass", "toy-unavailable")]["note"]
    assert rows[("multiclass", "majority")]["status"] == "ok"

    # failed cells are retried by the next run, finished and skipped ones are reused
    again = run(config)
    assert (again.executed, again.reused) == (4, 4)


def test_failed_cell_makes_the_cli_exit_1(tiny_root: Path, write_run_config: Any, run_cli: Any, tmp_path: Path) -> None:
    config = write_run_config(tiny_root, tasks=["multiclass"])
    run_dir = tmp_path / "cli-run"
    result = run_cli("run", "-c", config, "--run-dir", run_dir, "-m", "toy-fails,majority", "--plugin", TOY_PLUGIN)
    assert result.returncode == 1, result.stderr
    assert "toy-fails: deliberate failure in fit" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    statuses = sorted(load_record(p)["status"] for p in cell_files(run_dir))
    assert statuses == ["failed", "ok"]


# -- killed runs ------------------------------------------------------------------------------


def test_sigkill_loses_at_most_the_cell_in_flight(
    tiny_root: Path, write_run_config: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    seeds = [0, 1, 2, 3, 4, 5]
    config = write_run_config(tiny_root, tasks=["binary"], seeds=seeds)
    run_dir = tmp_path / "killed-run"
    log = tmp_path / "executions.log"
    command = [
        str(Path(sys.executable).with_name("asebench")),
        "run",
        "-c",
        str(config),
        "--run-dir",
        str(run_dir),
        "-m",
        "slow-sleeper",
        "--plugin",
        str(SLOW_PLUGIN),
    ]
    env = {**cli_env, "ASEBENCH_TEST_EXEC_LOG": str(log), "ASEBENCH_TEST_SLEEP": "0.5"}

    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not cell_files(run_dir):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no record appeared"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    survivors = cell_files(run_dir)
    assert 1 <= len(survivors) < len(seeds), "the kill came too late to test anything"
    records = [load_record(p) for p in survivors]  # every *.json is a complete record
    assert all(r["status"] == "ok" for r in records)
    before = {p.name: (p.stat().st_mtime_ns, load_record(p)["created_at"]) for p in survivors}

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr

    files = cell_files(run_dir)
    cells = [load_record(p)["cell"] for p in files]
    assert sorted(c["seed"] for c in cells) == seeds  # every cell exactly once
    for name, stamp in before.items():
        path = run_dir / "cells" / name
        assert (path.stat().st_mtime_ns, load_record(path)["created_at"]) == stamp, f"{name} was recomputed"

    executions = log.read_text().splitlines()
    counts = {f"folder|binary|{seed}": executions.count(f"folder|binary|{seed}") for seed in seeds}
    assert set(executions) == set(counts)
    assert all(count in (1, 2) for count in counts.values()), counts
    assert sum(count == 2 for count in counts.values()) <= 1, counts  # only the cell in flight ran twice
    for name in before:
        seed = load_record(run_dir / "cells" / name)["cell"]["seed"]
        assert counts[f"folder|binary|{seed}"] == 1
    results = json.loads((run_dir / "results.json").read_text())
    assert len(results["cells"]) == len(seeds)


# -- core bugs found while writing these tests --------------------------------------------------


def test_bootstrap_can_be_turned_off(tiny_root: Path, tmp_path: Path) -> None:
    config = make_config(tiny_root, tmp_path / "run", bootstrap={"samples": 0})
    outcome = run(config)
    assert [r["status"] for r in outcome.records] == ["ok", "ok"]
    for path in cell_files(config.run_dir):
        bootstrap = load_record(path)["metrics"]["bootstrap"]
        assert bootstrap["samples"] == 0 and bootstrap["low"] is None and bootstrap["high"] is None
    assert all(row["ci_low_mean"] == "" for row in read_csv(config.run_dir / "summary.csv"))


def test_changing_the_augmentation_policy_recomputes_cells(tiny_root: Path, tmp_path: Path) -> None:
    config = make_config(tiny_root, tmp_path / "run", tasks=["multiclass"])
    run(config)
    changed = config.model_copy(
        update={"dataset_options": {"folder": {"root": str(tiny_root), "augmentation_geometric": True}}}
    )
    outcome = run(changed)
    assert outcome.executed == 1
    assert outcome.records[0]["dataset"]["options"]["augmentation_geometric"] is True


def test_skipped_cell_runs_once_the_method_becomes_available(
    tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tiny_root, tmp_path / "run", methods=["toy-maybe"], tasks=["multiclass"])
    monkeypatch.delenv("ASEBENCH_TOY_AVAILABLE", raising=False)
    assert run(config).records[0]["status"] == "skipped"
    monkeypatch.setenv("ASEBENCH_TOY_AVAILABLE", "1")
    outcome = run(config)
    assert outcome.records[0]["status"] == "ok"


def test_y_pred_is_majority_class(majority_run: tuple[RunConfig, RunOutcome]) -> None:
    """Sanity check that the stored predictions are the training majority (normal = index 0)."""
    _, outcome = majority_run
    for record in outcome.records:
        counts = np.asarray(record["split"]["train_counts"])
        assert set(record["predictions"]["y_pred"]) == {int(np.argmax(counts))}


def test_split_config_in_record(majority_run: tuple[RunConfig, RunOutcome]) -> None:
    _, outcome = majority_run
    split = outcome.records[0]["split"]
    assert SplitConfig.model_validate({k: split[k] for k in SplitConfig.model_fields if k in split}) == SplitConfig()
    assert "category" not in split and "train" not in split  # the anomaly protocols' keys: not for a holdout cell
    assert sum(split["train_counts"]) + sum(split["val_counts"]) + sum(split["test_counts"]) == 26
    assert RunDirectory(outcome.run_dir).records()


def test_majority_run_imports_neither_torch_nor_ray(tiny_root: Path, tmp_path: Path) -> None:
    """The CLI and the local run loop stay light: torch comes with a method that needs it, ray with its executor."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "import asebench.cli\n"
        "from asebench.run.config import RunConfig\n"
        "from asebench.run.runner import run\n"
        f"run(RunConfig(methods=['majority'], datasets=['folder'], dataset_options={{'folder': {{'root': {str(tiny_root)!r}}}}},"
        f" run_dir=Path({str(tmp_path / 'run')!r}), device='cpu', bootstrap={{'samples': 5}}, tasks=['binary']))\n"
        "print(sorted(m for m in ('ray', 'torch') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_rescoring_recomputes_anomaly_metrics_from_the_stored_scores_and_maps(tiny_root: Path, tmp_path: Path) -> None:
    """First scoring and rescoring share one path: a record rescored later holds the same anomaly numbers."""
    config = make_config(tiny_root, tmp_path / "run", methods=["toy-anomaly"], tasks=["binary"])
    first = run(config).records[0]
    assert first["status"] == "ok", first.get("error")
    assert first["anomaly_metrics"]["image_auroc"] is not None
    assert first["artifacts"]["anomaly_maps"].endswith(".anomaly_maps.npy")
    path = cell_files(config.run_dir)[0]
    tampered = load_record(path)
    tampered["anomaly_metrics"]["image_auroc"] = -1.0  # rescoring must recompute, not carry this over
    path.write_text(json.dumps(tampered), encoding="utf-8")

    rescored = run(
        make_config(tiny_root, tmp_path / "run", methods=["toy-anomaly"], tasks=["binary"], bootstrap={"samples": 30})
    )
    assert rescored.executed == 0 and rescored.reused == 1
    record = load_record(path)
    assert record["metrics"]["bootstrap"]["samples"] == 30
    assert record["anomaly_metrics"] == first["anomaly_metrics"]
    assert record["created_at"] == first["created_at"]


# -- the cell cache: runs into new run directories ---------------------------------------------

CACHE_GRID: dict[str, Any] = {"methods": ["majority", "toy-constant", "toy-fails", "toy-anomaly"], "tasks": ["binary"]}


@pytest.fixture()
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache root for this test alone, so no other test's cells are found in it."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ASEBENCH_CACHE_DIR", str(root))
    return root


def without_execution(record: Any) -> Any:
    return {key: value for key, value in record.items() if key != "execution"}


def test_a_new_run_directory_reuses_the_cached_cells(own_cache: Path, tiny_folder_dataset: Any, tmp_path: Path) -> None:
    root = tiny_folder_dataset()
    first = run(make_config(root, tmp_path / "first", **CACHE_GRID))
    assert (first.executed, first.reused, first.cached) == (4, 0, 0)
    assert first.cell_cache is not None and first.cell_cache.parent == own_cache / "cells"

    second = run(make_config(root, tmp_path / "second", **CACHE_GRID))
    assert (second.executed, second.reused, second.cached) == (1, 0, 3)  # toy-fails failed: it is tried again
    for before, after in zip(first.records, second.records, strict=True):
        if before["status"] != "ok":
            continue
        assert without_execution(after) == without_execution(json.loads(json.dumps(before)))
        assert after["execution"]["cell_cache"] == str(first.cell_cache)
    assert (tmp_path / "first" / "summary.csv").read_text() == (tmp_path / "second" / "summary.csv").read_text()
    anomaly = next(r for r in second.records if r["cell"]["method"] == "toy-anomaly")
    maps = anomaly["artifacts"]["anomaly_maps"]
    np.testing.assert_array_equal(
        np.load(tmp_path / "second" / "cells" / maps), np.load(tmp_path / "first" / "cells" / maps)
    )
    assert load_record(tmp_path / "second" / "cells" / f"{maps.removesuffix('.anomaly_maps.npy')}.json") == anomaly


def test_the_switch_rerun_and_other_settings_recompute(
    own_cache: Path, tiny_folder_dataset: Any, tmp_path: Path
) -> None:
    root = tiny_folder_dataset()
    run(make_config(root, tmp_path / "first", **CACHE_GRID))
    off = run(make_config(root, tmp_path / "off", cell_cache=False, **CACHE_GRID))
    assert (off.executed, off.cached, off.cell_cache) == (4, 0, None)
    forced = run(make_config(root, tmp_path / "forced", rerun=True, **CACHE_GRID))
    assert (forced.executed, forced.cached) == (4, 0)
    timed = run(
        make_config(root, tmp_path / "timed", efficiency=False, **CACHE_GRID)
    )  # a setting outside the config hash
    assert (timed.executed, timed.cached) == (4, 0)


def test_rescoring_settings_apply_to_cached_cells(own_cache: Path, tiny_folder_dataset: Any, tmp_path: Path) -> None:
    root = tiny_folder_dataset()
    first = run(make_config(root, tmp_path / "first", methods=["toy-anomaly"], tasks=["binary"]))
    again = run(
        make_config(root, tmp_path / "again", methods=["toy-anomaly"], tasks=["binary"], bootstrap={"samples": 30})
    )
    assert (again.executed, again.cached) == (0, 1)
    record = again.records[0]
    assert record["metrics"]["bootstrap"]["samples"] == 30
    assert record["anomaly_metrics"] == first.records[0]["anomaly_metrics"]
