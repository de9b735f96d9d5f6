"""Building a cell's record: its identity, data and split facts, and the predictions it stores.

The record is the unit of storage (schema in :mod:`asebench.api.records`);
everything a table shows is later recomputed from these fields. Scoring the
record is :mod:`asebench.scoring.records`' job, not this module's.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np

from asebench.api.data import LoadedDataset
from asebench.api.method import Predictions, SplitView
from asebench.api.records import SCHEMA_VERSION, CellRecord
from asebench.run.config import RunConfig
from asebench.run.grid import CellPlan, dataset_code
from asebench.run.splits import Split


def base_record(
    plan: CellPlan,
    dataset: LoadedDataset,
    split: Split,
    config: RunConfig,
    environment: dict[str, Any],
    fit_data: LoadedDataset | None = None,
) -> CellRecord:
    """The fields every record has, whatever its status.

    ``fit_data`` is the dataset the split's train and val parts index (a transfer's source), if not ``dataset``.
    """
    fit_data = dataset if fit_data is None else fit_data
    ids = [sample.id for sample in dataset.samples]
    labels = dataset.labels(plan.task)
    fit_labels = fit_data.labels(plan.task)
    class_names = dataset.task_class_names(plan.task)

    def count(index: np.ndarray, of: np.ndarray = labels) -> list[int]:
        return [int((of[index] == k).sum()) for k in range(len(class_names))]

    protocol: dict[str, Any] = {} if split.category is None else {"category": split.category}
    if split.source is not None:
        protocol["source_dataset"] = {
            "name": split.source,
            "adapter": fit_data.name,
            "version": fit_data.version,
            "fingerprint": fit_data.fingerprint,
            "options": dict(fit_data.options),
            "code": dataset_code(fit_data),
            "num_samples": len(fit_data.samples),
            **dropped_block(fit_data),
            "fit_on": config.split.fit_on,
        }

    return CellRecord(
        schema_version=SCHEMA_VERSION,
        cell=plan.key.as_dict(),
        status="ok",
        error=None,
        skip_reason=None,
        # declared facts the report reads; outside describe(), which feeds the cell's config hash
        method={**plan.method.describe(), "proposed": plan.method.cls.proposed},
        dataset={
            "name": dataset.name,
            "version": dataset.version,
            "fingerprint": dataset.fingerprint,
            "options": dict(dataset.options),
            "code": dataset_code(dataset),
            "class_names": list(class_names),
            "normal_class": dataset.normal_class,
            "num_samples": len(dataset.samples),
            **dropped_block(dataset),
        },
        split={
            **config.split.model_dump(mode="json"),
            "seed": plan.seed,
            "fold": plan.fold,
            **protocol,
            "digest": split.digest(ids, None if split.source is None else [s.id for s in fit_data.samples]),
            "train_counts": count(split.train, fit_labels),
            "val_counts": count(split.val, fit_labels),
            "test_counts": count(split.test),
        },
        config=config.model_dump(mode="json"),
        environment=environment,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def dropped_block(dataset: LoadedDataset) -> dict[str, Any]:
    """``{"dropped": [{"path", "cause"}, ...]}`` when ``on_corrupt: skip`` left files out, else nothing."""
    return {"dropped": [problem.as_record() for problem in dataset.dropped]} if dataset.dropped else {}


def skipped_record(
    plan: CellPlan,
    dataset: LoadedDataset,
    split: Split,
    config: RunConfig,
    environment: dict[str, Any],
    reason: str,
    fit_data: LoadedDataset | None = None,
) -> CellRecord:
    """A cell the method cannot run here (missing weights, extra or input, protocol): the reason instead of a number."""
    record = base_record(plan, dataset, split, config, environment, fit_data)
    record["status"] = "skipped"
    record["skip_reason"] = reason
    return record


def failed_record(
    plan: CellPlan,
    dataset: LoadedDataset,
    split: Split,
    config: RunConfig,
    environment: dict[str, Any],
    error: dict[str, str],
    fit_data: LoadedDataset | None = None,
) -> CellRecord:
    """A cell that returned no result at all: its worker died on every attempt, or could not set the cell up."""
    record = base_record(plan, dataset, split, config, environment, fit_data)
    record["status"] = "failed"
    record["error"] = error
    record["timings"] = {}
    return record


def prediction_fields(predictions: Predictions, test: SplitView, y_true: np.ndarray) -> dict[str, Any]:
    """The ``predictions`` field: what a method returned for the test split, in JSON form.

    Readings keep the printed values the dataset knows beside them, so their
    score can be recomputed from the record alone.
    """
    fields: dict[str, Any] = {
        "ids": test.ids,
        "y_true": y_true.tolist(),
        "y_pred": predictions.labels.tolist(),
        "probabilities": None if predictions.probabilities is None else predictions.probabilities.round(6).tolist(),
    }
    if predictions.anomaly_scores is not None:
        fields["anomaly_scores"] = predictions.anomaly_scores.astype(float).round(6).tolist()
    if predictions.readings:
        fields["readings"] = {
            key: [None if np.isnan(v) else float(v) for v in np.asarray(values, dtype=float)]
            for key, values in predictions.readings.items()
        }
        fields["reading_truth"] = [
            {key: sample.metadata[key] for key in predictions.readings if key in sample.metadata}
            for sample in test.samples
        ]
    return fields


def artifact_name(plan: CellPlan, suffix: str) -> str:
    """File name of a cell's sidecar artifact in ``cells/``."""
    return plan.key.filename.removesuffix(".json") + "." + suffix
