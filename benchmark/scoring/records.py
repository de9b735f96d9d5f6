"""Scoring a cell record from what it stores: the first time and on rescoring, through one path.

Metrics, the tail analysis and reading accuracy come from the record's
predictions alone. Anomaly metrics also need what a record does not hold
(pixel maps beside it in ``cells/``, ground-truth masks in the dataset), so
the caller passes them as :class:`AnomalyInputs`; without them the stored
anomaly metrics are kept as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from asebench.api.data import Task
from asebench.api.records import CellRecord
from asebench.scoring.cell import score_cell
from asebench.scoring.readings import score_readings
from asebench.scoring.tail import TailConfig


class BootstrapConfig(BaseModel):
    """The per-cell bootstrap of macro-F1 over test samples (the ``bootstrap`` key of a run config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(1000, ge=0)
    confidence: float = Field(0.95, gt=0.0, lt=1.0)


@dataclass(frozen=True)
class AnomalyInputs:
    """What image- and pixel-level anomaly metrics need beyond the record: truth per image, maps and masks."""

    is_anomalous: np.ndarray
    scores: np.ndarray
    maps: np.ndarray | None = None
    masks: Sequence[np.ndarray | None] | None = None


def score_record(
    record: CellRecord, tail: TailConfig, bootstrap: BootstrapConfig, anomaly: AnomalyInputs | None = None
) -> CellRecord:
    """(Re)compute the record's metrics, tail analysis, reading and anomaly metrics in place; returns it."""
    cell = record["cell"]
    metrics, tail_report = score_cell(
        record["predictions"]["y_true"],
        record["predictions"]["y_pred"],
        record["dataset"]["class_names"],
        Task(cell["task"]),
        record["split"]["train_counts"],
        tail,
        bootstrap.samples,
        bootstrap_seed=cell["seed"],
        bootstrap_confidence=bootstrap.confidence,
    )
    record["metrics"] = metrics
    record["tail"] = tail_report
    readings = record["predictions"].get("readings")
    if readings:
        record["reading_metrics"] = score_readings(readings, record["predictions"]["reading_truth"])
    if anomaly is not None:
        record["anomaly_metrics"] = score_anomalies(anomaly)
    record.setdefault("config", {}).update(
        tail=tail.model_dump(mode="json"), bootstrap=bootstrap.model_dump(mode="json")
    )
    return record


def score_anomalies(inputs: AnomalyInputs) -> dict[str, Any]:
    """Image- and pixel-level anomaly metrics; a failure is noted in the result, never raised.

    A metric problem (e.g. maps of the wrong shape) must not lose a cell whose
    predictions are finished and stored.
    """
    from asebench.scoring.anomaly import anomaly_report

    try:
        return anomaly_report(inputs.is_anomalous, inputs.scores, inputs.maps, inputs.masks)
    except Exception as exc:  # noqa: BLE001 - a metric failure must not lose finished predictions; the record says what failed
        return {"notes": [f"anomaly scoring failed: {type(exc).__name__}: {exc}"]}


def needs_rescoring(record: CellRecord, tail: TailConfig, bootstrap: BootstrapConfig) -> bool:
    """True when a finished record was scored with other tail or bootstrap settings."""
    stored = record["metrics"]["bootstrap"]
    return bool(
        record["tail"]["thresholds"] != tail.model_dump(mode="json")
        or stored["samples"] != bootstrap.samples
        or stored["confidence"] != bootstrap.confidence
    )
