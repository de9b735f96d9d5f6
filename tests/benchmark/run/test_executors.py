"""Executors: the same grid on a process pool and on a real local Ray cluster, with a worker killed mid-cell.

Every fault test checks the same things: one record per cell, each cell
executed once (the killed one twice), the attempts recorded, finished cells of
an earlier run reused and not resubmitted, and metrics equal to the local
executor's for the same seeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from asebench.api.errors import ConfigError
from asebench.api.method import Capabilities
from asebench.api.records import CellKey, CellRecord
from asebench.cli.run_command import run_and_summarise
from asebench.run.config import RunConfig, build_config
from asebench.run.executors import RetryQueue
from asebench.run.executors.process import THREAD_VARIABLES, ProcessExecutor, usable_cores, worker_settings
from asebench.run.executors.ray_executor import cell_resources
from asebench.run.jobs import CellJob
from asebench.run.runner import RunOutcome
from asebench.store.run_directory import load_record


def run(config: RunConfig) -> RunOutcome:
    """A run as ``asebench run`` does it: the records, then the summary files built from them."""
    return run_and_summarise(config)[0]


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CRASH_PLUGIN = str(FIXTURES / "crash_methods.py")
TOY_PLUGIN = str(FIXTURES / "toy_methods.py")
CRASH_CELL = "multiclass|1"


def make_config(root: Path, run_dir: Path, **overrides: Any) -> RunConfig:
    values: dict[str, Any] = {
        "methods": ["majority", "crash-once", "toy-constant"],
        "datasets": ["folder"],
        "dataset_options": {"folder": {"root": str(root)}},
        "seeds": [0, 1],
        "device": "cpu",
        "run_dir": run_dir,
        "bootstrap": {"samples": 20},
        "plugins": [CRASH_PLUGIN, TOY_PLUGIN],
        "cell_cache": False,  # every executor computes its cells here; none takes another test's
    }
    values.update(overrides)
    return RunConfig(**values)


def records_by_cell(run_dir: Path) -> dict[tuple[Any, ...], CellRecord]:
    records = [load_record(path) for path in sorted((run_dir / "cells").glob("*.json"))]
    by_cell = {tuple(r["cell"].values()): r for r in records}
    assert len(by_cell) == len(records)
    return by_cell


@pytest.fixture()
def crash_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Arm the crash plugin (never in this process) and return the execution log."""
    log = tmp_path / "executions.log"
    monkeypatch.setenv("ASEBENCH_TEST_PARENT_PID", str(os.getpid()))
    monkeypatch.setenv("ASEBENCH_TEST_CRASH_DIR", str(tmp_path))
    monkeypatch.setenv("ASEBENCH_TEST_CRASH_CELL", CRASH_CELL)
    monkeypatch.setenv("ASEBENCH_TEST_EXEC_LOG", str(log))
    return log


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """One real local Ray cluster (2 CPUs, loopback, no dashboard) for every Ray test of this module."""
    try:
        import ray
    except ImportError:
        pytest.skip("ray is not installed: pip install 'asebench[ray]' to run the Ray executor tests")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()


# -- pure parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ray_address": "auto"}, "ray_address is only used by executor 'ray'"),
        ({"workers": 2}, "workers needs executor 'process' or 'ray'"),
        ({"executor": "process", "cell_gpus": 1}, "cell_cpus and cell_gpus are Ray resource requests"),
        (
            {"executor": "ray", "ray_address": "auto", "workers": 4},
            "with ray_address the cluster's own resources decide",
        ),
        ({"executor": "process", "max_retries": -1}, "max_retries"),
        ({"executor": "dask"}, "executor"),
    ],
)
def test_settings_of_another_executor_are_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(data, source="run.yaml")


def test_retry_queue_bounds_the_attempts_of_a_job_whose_worker_died() -> None:
    jobs = [CellJob("{}", CellKey("m", "d", "binary", seed, 0, "h"), (), (), "cpu", "/") for seed in (0, 1)]
    queue = RetryQueue(jobs, max_retries=1)
    first = queue.pop()
    assert queue.worker_died(first, "killed") is None  # back at the front
    assert queue.pop() == first and queue.attempts(first) == 2
    gave_up = queue.worker_died(first, "killed again")
    assert gave_up is not None and gave_up.attempts == 2 and gave_up.error is not None
    assert gave_up.error["type"] == "WorkerDied" and "killed again" in gave_up.error["message"]
    assert queue.pop() == jobs[1] and not queue


CPU_BENCH = SimpleNamespace(device="cpu")  # all an executor reads of the bench before it runs jobs


def _job(seed: int, wide: bool, annotates: bool = False, long: bool = False) -> CellJob:
    key = CellKey("m", "d", "binary", seed, 0, "h")
    return CellJob("{}", key, (), (), "cpu", "/", wide=wide, annotates=annotates, long=long)


def two_cpu_workers(monkeypatch: pytest.MonkeyPatch, cores: int) -> ProcessExecutor:
    """A process executor with two CPU workers on ``cores`` cores and no thread variables set."""
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("asebench.run.executors.process.usable_cores", lambda: cores)
    return ProcessExecutor(RunConfig(executor="process", workers=2, device="cpu"), CPU_BENCH)  # type: ignore[arg-type]


def test_cpu_workers_run_thread_invariant_cells_side_by_side_and_the_others_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    executor = two_cpu_workers(monkeypatch, cores=4)
    queue = RetryQueue([_job(0, True), _job(1, False), _job(2, True), _job(3, False)], max_retries=0)

    first = executor.next_job(queue, [])
    second = executor.next_job(queue, [first] if first else [])
    assert first is not None and second is not None
    assert (first.key.seed, first.threads, second.key.seed, second.threads) == (1, 2, 3, 2)  # narrow ones first
    assert executor.next_job(queue, [second]) is None  # a wide cell waits for every worker to be idle
    wide = executor.next_job(queue, [])
    assert wide is not None and (wide.key.seed, wide.threads) == (0, 4)  # alone, with every core
    assert executor.next_job(queue, [wide]) is None  # nothing starts beside a wide cell
    last = executor.next_job(queue, [])
    assert last is not None and (last.key.seed, last.threads) == (2, 4) and not queue


def test_cpu_workers_start_the_annotating_cells_first_so_they_split_the_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    executor = two_cpu_workers(monkeypatch, cores=2)
    jobs = [_job(0, False), _job(1, True, annotates=True), _job(2, False, annotates=True), _job(3, False)]
    queue = RetryQueue([*jobs, _job(4, False, annotates=True)], max_retries=0)
    started = []
    while (job := executor.next_job(queue, [])) is not None:
        started.append(job.key.seed)
    assert started == [2, 4, 0, 3, 1]  # narrow annotating cells, the other narrow ones, then the wide one


def test_cpu_workers_start_long_cells_before_short_ones_so_the_run_ends_on_short_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    executor = two_cpu_workers(monkeypatch, cores=2)
    jobs = [_job(0, False), _job(1, False, long=True), _job(2, True, long=True), _job(3, False, annotates=True)]
    queue = RetryQueue([*jobs, _job(4, False, long=True)], max_retries=0)
    started = []
    while (job := executor.next_job(queue, [])) is not None:
        started.append(job.key.seed)
    assert started == [3, 1, 4, 0, 2]  # annotating, long narrow, short narrow, then the wide one


def test_jobs_take_their_scheduling_traits_from_the_methods_capabilities() -> None:
    keys = [CellKey(name, "d", "binary", 0, 0, "h") for name in ("a", "b", "c")]
    capabilities = {
        keys[0]: Capabilities(thread_invariant=True, needs_text=True),
        keys[1]: Capabilities(thread_invariant=True, long_running=True),
        keys[2]: Capabilities(),
    }
    jobs = CellJob.for_cells(RunConfig(), capabilities, "cpu")
    assert [job.key for job in jobs] == keys
    assert [(job.wide, job.annotates, job.long) for job in jobs] == [
        (False, True, False),
        (False, False, True),
        (True, False, False),
    ]


def test_gpu_workers_take_the_jobs_in_order_with_their_own_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("asebench.run.executors.process.visible_gpus", lambda device: ["0", "1"])
    executor = ProcessExecutor(RunConfig(executor="process"), CPU_BENCH)  # type: ignore[arg-type]
    queue = RetryQueue([_job(0, True), _job(1, False)], max_retries=0)
    first = executor.next_job(queue, [])
    second = executor.next_job(queue, [first] if first else [])
    assert first is not None and second is not None
    assert [(job.key.seed, job.threads) for job in (first, second)] == [(0, None), (1, None)]


def test_a_user_thread_setting_is_every_cells_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    executor = ProcessExecutor(RunConfig(executor="process", workers=2, device="cpu"), CPU_BENCH)  # type: ignore[arg-type]
    queue = RetryQueue([_job(0, True), _job(1, False)], max_retries=0)
    narrow = executor.next_job(queue, [])
    assert narrow is not None and narrow.threads == 3
    wide = executor.next_job(queue, [])
    assert wide is not None and wide.threads == 3


def test_process_workers_are_pinned_to_one_gpu_each_and_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings = [worker_settings(i, 3, ["4", "6"]) for i in range(3)]
    assert [s["CUDA_VISIBLE_DEVICES"] for s in settings] == ["4", "6", "4"]
    assert all(int(s["OMP_NUM_THREADS"]) >= 1 for s in settings)
    assert "CUDA_VISIBLE_DEVICES" not in worker_settings(0, 2, [])


def test_ray_cells_ask_for_a_gpu_only_when_they_may_use_one() -> None:
    gpu_cluster, cpu_cluster = {"CPU": 16.0, "GPU": 2.0}, {"CPU": 16.0}

    def ray_config(**extra: Any) -> RunConfig:
        return RunConfig(executor="ray", **extra)

    assert cell_resources(ray_config(), gpu_cluster) == (1.0, 1.0, "cuda")
    assert cell_resources(ray_config(), cpu_cluster) == (1.0, 0.0, "auto")
    assert cell_resources(ray_config(device="cpu"), gpu_cluster) == (1.0, 0.0, "cpu")
    assert cell_resources(ray_config(cell_gpus=0.5, cell_cpus=4), gpu_cluster) == (4.0, 0.5, "cuda")
    assert cell_resources(ray_config(cell_gpus=0), gpu_cluster) == (1.0, 0.0, "cpu")
    with pytest.raises(ConfigError, match="no GPUs"):
        cell_resources(ray_config(device="cuda"), cpu_cluster)


# -- a killed worker, on each executor -------------------------------------------------------------


@pytest.mark.parametrize("executor", ["process", "ray"])
def test_a_killed_worker_is_retried_and_the_grid_matches_the_local_executor(
    executor: str, request: pytest.FixtureRequest, tiny_folder_dataset: Any, tmp_path: Path, crash_env: Path
) -> None:
    extra: dict[str, Any] = {"executor": executor}
    if executor == "ray":
        request.getfixturevalue("ray_cluster")
    else:
        extra["workers"] = 2
    root = tiny_folder_dataset()
    reference = run(make_config(root, tmp_path / "local"))  # crash-once never crashes in this process
    run_dir = tmp_path / executor
    run(make_config(root, run_dir, seeds=[0]))  # an earlier, partial run with the local executor
    crash_env.unlink(missing_ok=True)
    outcome = run(make_config(root, run_dir, **extra))

    assert outcome.reused == 6 and outcome.executed == 6
    assert all(record["status"] == "ok" for record in outcome.records)
    expected, found = records_by_cell(tmp_path / "local"), records_by_cell(run_dir)
    assert found.keys() == expected.keys() and len(found) == 12  # 3 methods x 2 tasks x 2 seeds, once each
    for cell, record in found.items():
        assert record["metrics"] == expected[cell]["metrics"], cell
        assert record["predictions"] == expected[cell]["predictions"], cell
        seed = record["cell"]["seed"]
        attempts = (
            2 if (record["cell"]["method"], f"{record['cell']['task']}|{seed}") == ("crash-once", CRASH_CELL) else 1
        )
        assert record["execution"] == {"executor": "local" if seed == 0 else executor, "attempts": attempts}, cell
    assert (run_dir / "summary.csv").read_text() == (tmp_path / "local" / "summary.csv").read_text()
    # crash-once does not claim thread invariance: a process worker runs it alone with every core, as
    # ``local`` would; a Ray cell asks for 1 CPU
    shares = {usable_cores()} if executor == "process" else {1}
    workers = [r for r in found.values() if r["cell"]["method"] == "crash-once" and r["cell"]["seed"] == 1]
    if not any(name in os.environ for name in THREAD_VARIABLES):  # a user's own setting wins, rightly
        assert all(set(r["method"]["provenance"]["threads"]) <= shares for r in workers)
    assert all(r["method"]["provenance"]["pid"] != os.getpid() for r in workers)
    executions = crash_env.read_text().splitlines()  # only crash-once logs; seed 0 was reused, not resubmitted
    assert sorted(executions) == ["crash-once|binary|1", "crash-once|multiclass|1", "crash-once|multiclass|1"]
    assert [r["cell"]["seed"] for r in reference.records] == [r["cell"]["seed"] for r in outcome.records]


def test_ray_records_a_cell_whose_worker_always_dies_as_failed_and_loses_no_other(
    ray_cluster: Any, tiny_folder_dataset: Any, tmp_path: Path, crash_env: Path
) -> None:
    config = make_config(
        tiny_folder_dataset(),
        tmp_path / "run",
        methods=["crash-always", "majority"],
        tasks=["binary"],
        seeds=[0, 1],
        executor="ray",
        max_retries=1,
    )
    outcome = run(config)
    statuses = {(r["cell"]["method"], r["cell"]["seed"]): r["status"] for r in outcome.records}
    assert statuses == {
        ("crash-always", 0): "failed",
        ("crash-always", 1): "failed",
        ("majority", 0): "ok",
        ("majority", 1): "ok",
    }
    for record in outcome.failed:
        assert record["execution"] == {"executor": "ray", "attempts": 2}
        assert record["error"]["type"] == "WorkerDied"
        assert "2 attempt(s)" in record["error"]["message"] and "WorkerCrashedError" in record["error"]["message"]
    assert crash_env.read_text().splitlines().count("crash-always|binary|0") == 2


def test_cli_process_executor_gives_up_after_max_retries(
    tiny_folder_dataset: Any,
    tmp_path: Path,
    crash_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from asebench.cli import main

    run_dir = tmp_path / "run"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "asebench",
            "run",
            "-m",
            "crash-always,majority",
            "-d",
            f"folder:{tiny_folder_dataset()}",
            "--tasks",
            "binary",
            "--device",
            "cpu",
            "--plugin",
            CRASH_PLUGIN,
            "--run-dir",
            str(run_dir),
            "--executor",
            "process",
            "--workers",
            "2",
            "--max-retries",
            "1",
        ],
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1  # failed cells
    err = capsys.readouterr().err
    assert "crash-always on folder binary seed 0: WorkerDied" in err.replace("\n", " ")
    records = records_by_cell(run_dir)
    assert sorted(r["status"] for r in records.values()) == ["failed", "ok"]
    failed = next(r for r in records.values() if r["status"] == "failed")
    assert failed["execution"] == {"executor": "process", "attempts": 2}
    assert crash_env.read_text().splitlines() == ["crash-always|binary|0"] * 2


def test_file_lock_keeps_a_second_process_out_while_held(tmp_path: Path) -> None:
    """Parallel workers sharing the feature cache compute a backbone's features once: the second waits."""
    from asebench.store.atomic import file_lock

    lock = tmp_path / "features" / "digest.lock"
    probe = (
        "import fcntl, sys\n"
        f"handle = open({str(lock)!r}, 'a+b')\n"
        "try:\n    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n"
    )
    pytest.importorskip("fcntl")
    with file_lock(lock):
        assert subprocess.run([sys.executable, "-c", probe], timeout=30).returncode == 3
    assert subprocess.run([sys.executable, "-c", probe], timeout=30).returncode == 0
