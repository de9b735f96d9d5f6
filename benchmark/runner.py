"""The run loop: plan the grid, skip finished cells, execute the rest, summarise.

Finished cells (status ``ok`` or ``skipped``) found in the run directory are
reused unless ``rerun`` is set, so a killed run started again computes only
what is missing. Failed cells are retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asebench.anomaly_table import anomaly_csv, anomaly_markdown, anomaly_rows
from asebench.config import RunConfig
from asebench.data import LoadedDataset, Task
from asebench.environment import collect_environment
from asebench.errors import DatasetError
from asebench.execution import artifact_name, execute_cell, needs_rescoring, rescore, skipped_record
from asebench.grid import CellPlan, DatasetPlan, plan_cells, plan_datasets, plan_methods
from asebench.imaging import verify_images
from asebench.method import MethodContext, ProgressCallback
from asebench.paths import cache_dir, cache_root
from asebench.plugins import load_plugin
from asebench.reproducibility import select_device
from asebench.results import SCHEMA_VERSION, CellRecord, RunDirectory, record_order
from asebench.splits import Split, make_split
from asebench.summary import PER_CLASS_COLUMNS, SUMMARY_COLUMNS, main_table, per_class_rows, summary_rows, table_notes, to_csv, to_markdown

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
    summary: list[dict[str, Any]]
    reused: int = 0
    executed: int = 0
    broken_plugins: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CellRecord]:
        return [r for r in self.records if r["status"] == "failed"]


def load_dataset(plan: DatasetPlan) -> LoadedDataset:
    """Load an adapter and make sure every image decodes (once per content fingerprint)."""
    reason = plan.adapter.availability(plan.adapter.options)
    if reason:
        raise DatasetError(f"dataset {plan.name!r} is not available: {reason}")
    dataset = plan.adapter.load()
    marker = cache_root() / "verified" / dataset.fingerprint
    if not marker.exists():
        verify_images(dataset.samples)
        cache_dir("verified")
        marker.touch()
    return dataset


def run(config: RunConfig, observer: RunObserver | None = None) -> RunOutcome:
    """Execute ``config`` and write records and summaries into its run directory."""
    observer = observer or RunObserver()
    broken = [b for b in (load_plugin(spec) for spec in config.plugins) if b is not None]
    methods = plan_methods(config)
    dataset_plans = plan_datasets(config)
    run_dir = RunDirectory(config.run_dir)
    run_dir.prepare()
    device = select_device(config.device)
    datasets: dict[str, LoadedDataset] = {}
    for plan in dataset_plans:
        observer.message(f"loading dataset {plan.name}")
        datasets[plan.name] = load_dataset(plan)
        skipped_tasks = [t.value for t in config.tasks if t not in datasets[plan.name].tasks]
        if skipped_tasks:
            observer.message(f"{plan.name}: no normal class, so no {', '.join(skipped_tasks)} task")
    cells = plan_cells(config, methods, datasets)
    run_dir.write_json("config.json", {"schema_version": SCHEMA_VERSION, "config": config.model_dump(mode="json")})
    observer.total_cells(len(cells))
    outcome = RunOutcome(run_dir=run_dir.path, records=[], summary=[], broken_plugins=[b.source for b in broken])
    splits: dict[tuple[str, int, int], Split] = {}
    for plan in cells:
        dataset = datasets[plan.dataset]
        split_key = (plan.dataset, plan.seed, plan.fold)
        if split_key not in splits:
            splits[split_key] = make_split(dataset.labels(Task.MULTICLASS), config.split, plan.seed, plan.fold)
        record, reused = _run_cell(plan, dataset, splits[split_key], config, device, run_dir, observer)
        outcome.records.append(record)
        outcome.reused += reused
        outcome.executed += not reused
    environment = collect_environment(device)
    run_dir.write_json("environment.json", environment)
    outcome.summary = write_summaries(run_dir, outcome.records, environment, config)
    return outcome


def _run_cell(
    plan: CellPlan,
    dataset: LoadedDataset,
    split: Split,
    config: RunConfig,
    device: str,
    run_dir: RunDirectory,
    observer: RunObserver,
) -> tuple[CellRecord, bool]:
    previous = None if config.rerun else run_dir.read_record(plan.key)
    reusable = previous is not None and (
        previous["status"] == "ok" or (previous["status"] == "skipped" and plan.method.unavailable)
    )
    if previous is not None and reusable:
        if previous["status"] == "ok" and needs_rescoring(previous, config):
            previous = rescore(previous, config)  # new tail/bootstrap settings: no model needs to run
            run_dir.write_record(plan.key, previous)
        observer.cell_finished(plan, previous, True)
        return previous, True
    observer.cell_started(plan)
    environment = collect_environment(device)  # per cell: includes torch/GPU facts once a method loaded torch
    if plan.method.unavailable:
        record = skipped_record(plan, dataset, split, config, environment, plan.method.unavailable)
    else:
        context = MethodContext(
            device=device,
            seed=plan.seed,
            deterministic=config.deterministic,
            profile=config.profile,
            cache_dir=cache_dir(),
            amp=config.amp and device.startswith("cuda"),
            num_workers=config.num_workers,
            progress=observer.method_progress,
        )
        result = execute_cell(plan, dataset, split, config, context, environment)
        for suffix, array in result.arrays.items():  # sidecars first: a record never points to a missing file
            run_dir.write_array(artifact_name(plan, suffix), array)
        record = result.record
    run_dir.write_record(plan.key, record)
    observer.cell_finished(plan, record, False)
    return record, False


def write_summaries(run_dir: RunDirectory, records: list[CellRecord], environment: dict[str, Any], config: RunConfig | None = None) -> list[dict[str, Any]]:
    """Write summary.csv/.md, per_class.csv and results.json from ``records``."""
    records = sorted(records, key=record_order)
    rows = summary_rows(records)
    header, lines = main_table(rows)
    run_dir.write_text("summary.csv", to_csv(rows, SUMMARY_COLUMNS))
    run_dir.write_text(
        "summary.md",
        "# asebench summary\n\nmacro-F1 mean ± std over seeds/folds; tail-F1 = macro-F1 over tail classes "
        "(by training frequency).\n\n" + to_markdown(header, lines)
        + "".join(f"\n- {note}" for note in table_notes(rows)) + "\n",
    )
    run_dir.write_text("per_class.csv", to_csv(per_class_rows(records), PER_CLASS_COLUMNS))
    anomaly = anomaly_rows(records)
    if anomaly:
        run_dir.write_text("anomaly.csv", anomaly_csv(anomaly))
        run_dir.write_text("anomaly.md", anomaly_markdown(anomaly))
    run_dir.write_json(
        "results.json",
        {
            "schema_version": SCHEMA_VERSION,
            "config": config.model_dump(mode="json") if config else None,
            "environment": environment,
            "summary": rows,
            "cells": records,
        },
    )
    return rows
