"""The run loop: plan the grid, skip finished cells, execute the rest.

Finished cells (status ``ok``, or ``skipped`` for the reason the plan still
gives: a run that may now download the weights tries again) found in the run
directory are reused unless ``rerun`` is set, so a killed run started again
computes only what is missing, whichever executor ran the earlier part. Failed cells are
retried. Unless ``cell_cache`` is off (or ``rerun`` set), ``ok`` cells are also
taken from, and given to, the cell cache under the cache root
(:mod:`asebench.store.cell_cache`), so a run into a new directory reuses what
an earlier run on this machine and install computed. A method or adapter whose
code changed gives its cells another config hash, so they are computed again;
:mod:`asebench.run.code_changes` says which and why, for the command line to
print.

The cells left to compute go to the configured executor (this process, a
local process pool or a Ray cluster; see :mod:`asebench.run.executors`). Only this
process writes the run directory: each result is written atomically as it
arrives, so workers never write there and need no access to it; they share
only the cache root (datasets, features).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from asebench.api.data import LoadedDataset, Task
from asebench.api.errors import ResultsError
from asebench.api.method import ProgressCallback
from asebench.api.plugins import load_plugins
from asebench.api.problems import dropped_summary
from asebench.api.records import SCHEMA_VERSION, CellKey, CellRecord
from asebench.api.registry import DATASETS, METHODS
from asebench.run.cell import anomaly_inputs
from asebench.run.code_changes import CodeChange, code_changes
from asebench.run.config import RunConfig
from asebench.run.environment import cell_cache_context, collect_environment
from asebench.run.executors import EXECUTORS, CellOutcome
from asebench.run.grid import CellPlan, dataset_code, plan_cells, plan_datasets, plan_methods, plan_source
from asebench.run.jobs import CellBench, CellJob, load_dataset
from asebench.run.records import artifact_name, failed_record, skipped_record
from asebench.scoring.records import AnomalyInputs, needs_rescoring, score_record
from asebench.store.cell_cache import CellCache
from asebench.store.paths import cache_root
from asebench.store.run_directory import RunDirectory

__all__ = ["CodeChange", "RunObserver", "RunOutcome", "load_dataset", "run"]  # load_dataset lives in run.jobs

CellStarted = Callable[[CellPlan], None]
CellFinished = Callable[[CellPlan, CellRecord, bool], None]


@dataclass
class RunObserver:
    """Hooks the CLI uses for its progress display; all optional."""

    cell_started: CellStarted = lambda plan: None
    cell_finished: CellFinished = lambda plan, record, reused: None
    method_progress: ProgressCallback = lambda description, completed, total: None
    message: Callable[[str], None] = lambda text: None
    total_cells: Callable[[int], None] = lambda total: None


@dataclass
class RunOutcome:
    run_dir: Path
    records: list[CellRecord]
    environment: dict[str, Any]
    reused: int = 0  # from the run directory
    cached: int = 0  # from the cell cache
    executed: int = 0
    cell_cache: Path | None = None  # the cell cache folder this run read and wrote, when on
    broken_plugins: list[str] = field(default_factory=list)  # one line each: which plugin, why, where
    dropped_files: list[str] = field(default_factory=list)  # one line per dataset that on_corrupt: skip thinned
    # per method / dataset name: cells computed again because its code changed (see run.code_changes)
    code_changes: dict[str, CodeChange] = field(default_factory=dict)
    dataset_code_changes: dict[str, CodeChange] = field(default_factory=dict)

    @property
    def failed(self) -> list[CellRecord]:
        return [r for r in self.records if r["status"] == "failed"]


def broken_plugins() -> list[str]:
    """Plugins found on their own (entry points, glob matches) that failed: the run goes on without them."""
    broken = [b for b in METHODS.broken() + DATASETS.broken() if not b.source.startswith("--plugin ")]
    return list(dict.fromkeys(b.describe() for b in broken))


def dropped_line(name: str, dataset: LoadedDataset) -> str | None:
    """What ``on_corrupt: skip`` left out of one dataset, as one line for the console; None when nothing."""
    if not dataset.dropped:
        return None
    root = dataset.options.get("root")
    where = f" at {root}" if root else ""
    return (
        f"dataset {name}{where}: dropped {dropped_summary(dataset.dropped)} (on_corrupt: skip); "
        f"listed in the records (dataset.dropped)"
    )


def run(config: RunConfig, observer: RunObserver | None = None) -> RunOutcome:
    """Execute ``config`` and write its records into the run directory.

    Tables are not written here: records are the data, and the summaries built
    from them are :func:`asebench.report.run_files.write_summaries`' job.
    """
    observer = observer or RunObserver()
    load_plugins(config.plugins)  # a plugin the user named that fails is an error, never a quiet warning
    methods = plan_methods(config)
    dataset_plans = plan_datasets(config)
    source_plan = plan_source(config)
    run_dir = RunDirectory(config.run_dir)
    run_dir.prepare()
    executor_class = EXECUTORS[config.executor]
    device = executor_class.parent_device(config)
    datasets: dict[str, LoadedDataset] = {}
    for dataset_plan in dataset_plans:
        observer.message(f"loading dataset {dataset_plan.name}")
        datasets[dataset_plan.name] = load_dataset(dataset_plan)
        skipped_tasks = [t.value for t in config.tasks if t not in datasets[dataset_plan.name].tasks]
        if skipped_tasks:
            observer.message(f"{dataset_plan.name}: no normal class, so no {', '.join(skipped_tasks)} task")
    source = None
    if source_plan is not None:
        observer.message(f"loading dataset {source_plan.name} (transfer: the methods are fitted on it)")
        source = load_dataset(source_plan)
    if config.split.per_category and Task.MULTICLASS in config.tasks:
        observer.message(f"{config.split.protocol} protocol: one cell per category, binary task only")
    cells = plan_cells(config, methods, datasets, source)
    run_dir.write_json("config.json", {"schema_version": SCHEMA_VERSION, "config": config.model_dump(mode="json")})
    observer.total_cells(len(cells))
    outcome = RunOutcome(run_dir=run_dir.path, records=[], environment={}, broken_plugins=broken_plugins())
    loaded = datasets if source is None or source_plan is None else {**datasets, source_plan.name: source}
    outcome.dropped_files = [line for name, data in sorted(loaded.items()) if (line := dropped_line(name, data))]
    bench = CellBench(config, device, loaded, {m.name: m for m in methods}, observer.method_progress)
    cell_cache = open_cell_cache(config, device)
    outcome.cell_cache = cell_cache.path if cell_cache is not None else None
    records: dict[CellKey, CellRecord] = {}
    pending: dict[CellKey, CellPlan] = {}
    computed: list[CellPlan] = []
    for plan in cells:
        previous = None if config.rerun else _reusable_record(plan, config, run_dir, bench, cell_cache)
        if previous is not None:
            record, from_cache = previous
            observer.cell_finished(plan, record, True)
            records[plan.key] = record
            outcome.cached += from_cache
            outcome.reused += not from_cache
            continue
        computed.append(plan)
        if plan.skip_reason:
            observer.cell_started(plan)
            split = bench.split(plan.dataset, plan.seed, plan.fold)
            record = skipped_record(
                plan,
                bench.dataset(plan.dataset),
                split,
                config,
                collect_environment(device),
                plan.skip_reason,
                bench.fit_dataset(split, plan.dataset),
            )
            records[plan.key] = _store(run_dir, plan, record, observer)
            outcome.executed += 1
        else:
            pending[plan.key] = plan
    if computed and not config.rerun:
        changes = code_changes(computed, run_dir, {name: dataset_code(data) for name, data in datasets.items()})
        outcome.code_changes, outcome.dataset_code_changes = changes.methods, changes.datasets
    if pending:
        jobs = CellJob.for_cells(config, {key: plan.method.cls.capabilities for key, plan in pending.items()}, device)
        with executor_class(config, bench) as executor:
            for finished in executor.run(jobs, lambda job: observer.cell_started(pending[job.key])):
                plan = pending[finished.job.key]
                records[plan.key] = _store(run_dir, plan, _finished_record(plan, finished, bench, run_dir), observer)
                outcome.executed += 1
                if cell_cache is not None and finished.result is not None:
                    cell_cache = _keep(cell_cache, plan, records[plan.key], finished, observer)
    outcome.records = [records[plan.key] for plan in cells]
    outcome.environment = collect_environment(device)
    run_dir.write_json("environment.json", outcome.environment)
    return outcome


CACHE_SETTINGS = {"amp", "num_workers", "executor", "workers", "cell_cpus", "cell_gpus", "episodes", "efficiency"}
"""Run settings outside a cell's config hash that its record depends on (precision, threads, episodes, timings)."""


def open_cell_cache(config: RunConfig, device: str) -> CellCache | None:
    """The cell cache of this run's context, or None when off: ``cell_cache: false``, ``rerun``, or Ray.

    Ray's workers are other machines, whose installs the context (taken here) cannot vouch for.
    """
    if not config.cell_cache or config.rerun or config.executor == "ray":
        return None
    settings = config.model_dump(mode="json", include=CACHE_SETTINGS)
    return CellCache(cache_root(), {**cell_cache_context(device), "run": settings})


def _keep(
    cache: CellCache, plan: CellPlan, record: CellRecord, finished: CellOutcome, observer: RunObserver
) -> CellCache | None:
    """Give a computed cell to the cell cache; a cache that cannot be written is left alone for the rest of the run."""
    assert finished.result is not None
    arrays = {artifact_name(plan, suffix): array for suffix, array in finished.result.arrays.items()}
    try:
        cache.put(plan.key, record, arrays)
    except ResultsError as exc:
        observer.message(f"warning: {exc}; finished cells are not cached for later runs")
        return None
    return cache


def _reusable_record(
    plan: CellPlan, config: RunConfig, run_dir: RunDirectory, bench: CellBench, cell_cache: CellCache | None
) -> tuple[CellRecord, bool] | None:
    """The cell's finished record from an earlier run, and whether it came from the cell cache; else None.

    The run directory comes first; a record from the cell cache is copied into
    it (arrays first). Either is rescored if the scoring settings changed.
    """
    previous = run_dir.read_record(plan.key)
    reusable = previous is not None and (
        previous["status"] == "ok"
        or (previous["status"] == "skipped" and previous.get("skip_reason") == plan.skip_reason)
    )
    from_cache = False
    if not reusable:
        if cell_cache is None or (cached := cell_cache.get(plan.key)) is None:
            return None
        previous, arrays = cached
        for name, array in arrays.items():
            run_dir.write_array(name, array)
        previous["execution"] = {**previous.get("execution", {}), "cell_cache": str(cell_cache.path)}
        run_dir.write_record(plan.key, previous)
        from_cache = True
    assert previous is not None
    if previous["status"] == "ok" and needs_rescoring(previous, config.tail, config.bootstrap):
        # new tail/bootstrap settings: rescored from the stored predictions (and maps), no model runs
        anomaly = _stored_anomaly_inputs(previous, plan, bench, run_dir)
        previous = score_record(previous, config.tail, config.bootstrap, anomaly)
        run_dir.write_record(plan.key, previous)
    return previous, from_cache


def _stored_anomaly_inputs(
    record: CellRecord, plan: CellPlan, bench: CellBench, run_dir: RunDirectory
) -> AnomalyInputs | None:
    """What anomaly scoring needs for a stored record: its scores, its map sidecar and the dataset's masks."""
    scores = record["predictions"].get("anomaly_scores")
    if scores is None:
        return None
    maps_file = (record.get("artifacts") or {}).get("anomaly_maps")
    maps = run_dir.read_array(maps_file).astype(np.float32) if maps_file else None
    split = bench.split(plan.dataset, plan.seed, plan.fold)
    return anomaly_inputs(bench.dataset(plan.dataset), split, np.asarray(scores, dtype=float), maps)


def _finished_record(plan: CellPlan, finished: CellOutcome, bench: CellBench, run_dir: RunDirectory) -> CellRecord:
    """The record of an executed cell, with how it was executed; array sidecars are written first."""
    if finished.result is not None:
        record = finished.result.record
        for suffix, array in finished.result.arrays.items():  # a record never points to a missing file
            run_dir.write_array(artifact_name(plan, suffix), array)
    else:
        dataset, split = bench.dataset(plan.dataset), bench.split(plan.dataset, plan.seed, plan.fold)
        environment = collect_environment(bench.device)
        fit_data = bench.fit_dataset(split, plan.dataset)
        record = failed_record(plan, dataset, split, bench.config, environment, finished.error or {}, fit_data)
    record["execution"] = {"executor": bench.config.executor, "attempts": finished.attempts}
    return record


def _store(run_dir: RunDirectory, plan: CellPlan, record: CellRecord, observer: RunObserver) -> CellRecord:
    run_dir.write_record(plan.key, record)
    observer.cell_finished(plan, record, False)
    return record
