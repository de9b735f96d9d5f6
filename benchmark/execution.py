"""Running one cell: split -> fit -> predict -> score -> record.

Everything that can go wrong inside a method (an exception, NaN loss, out of
memory) is caught here and turned into a ``failed`` record with the error, so
the other cells of the run go on.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from asebench.config import RunConfig
from asebench.data import LoadedDataset, Task
from asebench.grid import CellPlan
from asebench.method import MethodContext, make_views
from asebench.reproducibility import seed_everything
from asebench.results import SCHEMA_VERSION, CellRecord
from asebench.scoring import score_cell
from asebench.splits import Split


@dataclass
class CellResult:
    """A finished cell: its JSON record plus arrays stored beside it (learned features)."""

    record: CellRecord
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _base_record(plan: CellPlan, dataset: LoadedDataset, split: Split, config: RunConfig, environment: dict[str, Any]) -> CellRecord:
    ids = [sample.id for sample in dataset.samples]
    labels = dataset.labels(plan.task)
    class_names = dataset.task_class_names(plan.task)
    count = lambda index: [int((labels[index] == k).sum()) for k in range(len(class_names))]  # noqa: E731
    return CellRecord(
        schema_version=SCHEMA_VERSION,
        cell=plan.key.as_dict(),
        status="ok",
        error=None,
        skip_reason=None,
        method=plan.method.describe(),
        dataset={
            "name": dataset.name,
            "version": dataset.version,
            "fingerprint": dataset.fingerprint,
            "options": dict(dataset.options),
            "class_names": list(class_names),
            "normal_class": dataset.normal_class,
            "num_samples": len(dataset.samples),
        },
        split={
            **config.split.model_dump(mode="json"),
            "seed": plan.seed,
            "fold": plan.fold,
            "digest": split.digest(ids),
            "train_counts": count(split.train),
            "val_counts": count(split.val),
            "test_counts": count(split.test),
        },
        config=config.model_dump(mode="json"),
        environment=environment,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def skipped_record(plan: CellPlan, dataset: LoadedDataset, split: Split, config: RunConfig, environment: dict[str, Any], reason: str) -> CellRecord:
    record = _base_record(plan, dataset, split, config, environment)
    record["status"] = "skipped"
    record["skip_reason"] = reason
    return record


def execute_cell(
    plan: CellPlan,
    dataset: LoadedDataset,
    split: Split,
    config: RunConfig,
    context: MethodContext,
    environment: dict[str, Any],
) -> CellResult:
    """Run one cell and return its record (status ``ok`` or ``failed``) and any array artifacts."""
    record = _base_record(plan, dataset, split, config, environment)
    train, val, test = make_views(dataset, plan.task, (split.train, split.val, split.test))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    try:
        seeding = seed_everything(plan.seed, config.deterministic)
        record["run"] = {
            "device": context.device,
            "profile": context.profile,
            "amp": context.amp,
            "num_workers": context.num_workers,
            **seeding,
        }
        method = plan.method.cls(plan.method.options, context)
        tick = time.perf_counter()
        method.fit(train, val)
        timings["fit_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        predictions = method.predict(test)
        timings["predict_s"] = time.perf_counter() - tick
        predictions.validate(len(test), test.num_classes)
        record["method"]["provenance"] = method.provenance()
    except Exception as exc:  # recorded, never fatal for the run
        record["status"] = "failed"
        record["error"] = {
            "type": type(exc).__name__,
            "message": str(exc) or type(exc).__name__,
            "traceback": "".join(traceback.format_exception(exc)[-6:]),
        }
        record["timings"] = {**timings, "total_s": time.perf_counter() - started}
        return CellResult(record)
    record["predictions"] = {
        "ids": test.ids,
        "y_true": dataset.labels(plan.task)[split.test].tolist(),
        "y_pred": predictions.labels.tolist(),
        "probabilities": None if predictions.probabilities is None else predictions.probabilities.round(6).tolist(),
    }
    record["timings"] = {**timings, "total_s": time.perf_counter() - started}
    if predictions.features is not None:
        record["artifacts"] = {"features": artifact_name(plan, "features.npy")}
        return CellResult(rescore(record, config), {"features.npy": predictions.features})
    return CellResult(rescore(record, config))


def artifact_name(plan: CellPlan, suffix: str) -> str:
    """File name of a cell's sidecar artifact in ``cells/``."""
    return plan.key.filename.removesuffix(".json") + "." + suffix


def rescore(record: CellRecord, config: RunConfig) -> CellRecord:
    """(Re)compute metrics and tail analysis from the record's stored predictions."""
    cell = record["cell"]
    metrics, tail = score_cell(
        record["predictions"]["y_true"],
        record["predictions"]["y_pred"],
        record["dataset"]["class_names"],
        Task(cell["task"]),
        record["split"]["train_counts"],
        config.tail,
        config.bootstrap.samples,
        bootstrap_seed=cell["seed"],
        bootstrap_confidence=config.bootstrap.confidence,
    )
    record["metrics"] = metrics
    record["tail"] = tail
    record.setdefault("config", {}).update(
        tail=config.tail.model_dump(mode="json"), bootstrap=config.bootstrap.model_dump(mode="json")
    )
    return record


def needs_rescoring(record: CellRecord, config: RunConfig) -> bool:
    """True when a finished record was scored with other tail or bootstrap settings."""
    bootstrap = record["metrics"]["bootstrap"]
    return (
        record["tail"]["thresholds"] != config.tail.model_dump(mode="json")
        or bootstrap["samples"] != config.bootstrap.samples
        or bootstrap["confidence"] != config.bootstrap.confidence
    )
