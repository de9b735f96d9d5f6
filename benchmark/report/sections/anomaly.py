"""The anomaly table: whatever image- and pixel-level metrics the records carry."""

from __future__ import annotations

import statistics as pystats
from collections.abc import Sequence
from typing import Any

from asebench.api.records import CellRecord, has_placeholder_weights
from asebench.report.aggregate import MethodCells, task_rank
from asebench.report.anomaly_table import METRIC_LABELS, RANDOM_WEIGHTS_NOTE
from asebench.report.tables import Cell, Column, Table, mean_std_cell
from asebench.scoring.anomaly import METRIC_KEYS

ANOMALY_KEYS = (*METRIC_KEYS, "pro")  # "pro": older records
ANOMALY_LABELS = {**METRIC_LABELS, "pro": "PRO"}


def _anomaly_keys(records: Sequence[CellRecord]) -> list[str]:
    """Numeric anomaly metrics present in any record: known ones first, then the rest by name.

    Operating points (``*_threshold``) and non-numeric entries (``notes``) are not metrics.
    """
    keys: set[str] = set()
    for record in records:
        for key, value in (record.get("anomaly_metrics") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.endswith("_threshold"):
                keys.add(key)
    return [k for k in ANOMALY_KEYS if k in keys] + sorted(keys - set(ANOMALY_KEYS))


def anomaly_table(groups: Sequence[MethodCells]) -> Table | None:
    """Whatever anomaly metrics records carry (``record["anomaly_metrics"]``); None when none do."""
    carrying = [r for g in groups for r in g.ok if r.get("anomaly_metrics")]
    ordered = _anomaly_keys(carrying)
    if not ordered:
        return None
    table = Table(
        key="anomaly",
        title="Anomaly detection metrics",
        columns=[Column("dataset"), Column("task"), Column("method"), Column("cells", "r")]
        + [Column(ANOMALY_LABELS.get(k, k), "r", "max" if k in ANOMALY_KEYS else None) for k in ordered],
        caption=(
            "Mean ± std over the seeds/folds that report each metric (fractions in [0, 1]); I- image level, "
            "P- pixel level, F1max: best F1 over thresholds, PRO: per-region overlap. Best per dataset in bold, "
            "second underlined."
        ),
        data_columns=["dataset", "task", "method", "cells"]
        + [f"{k}_{s}" for k in ordered for s in ("mean", "std")]
        + ["weights"],
    )
    notes: list[str] = []
    for group in sorted(groups, key=lambda g: (g.dataset, task_rank(g.task), g.method)):
        records = [r for r in group.ok if r.get("anomaly_metrics")]
        if not records:
            continue
        weights = sorted({str((r["method"].get("provenance") or {}).get("weights", "")) for r in records} - {""})
        cells = [Cell(group.dataset), Cell(group.task), Cell(group.method), Cell(str(len(records)))]
        data: dict[str, Any] = {
            "dataset": group.dataset,
            "task": group.task,
            "method": group.method,
            "cells": len(records),
            "weights": ", ".join(weights) or None,
        }
        for key in ordered:
            values = [r["anomaly_metrics"].get(key) for r in records]
            present = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            mean = pystats.fmean(present) if present else None
            std = (pystats.stdev(present) if len(present) > 1 else 0.0) if present else None
            cells.append(mean_std_cell(mean, std) if present else Cell("–"))
            data[f"{key}_mean"], data[f"{key}_std"] = mean, std
        table.add_row(cells, group=group.dataset)
        table.data_rows.append(data)
        if any(has_placeholder_weights(r) for r in records):
            notes.append(f"{group.method} on {group.dataset} {group.task}: {RANDOM_WEIGHTS_NOTE}")
        for record in records:
            for note in record["anomaly_metrics"].get("notes") or []:
                text = f"{group.method} on {group.dataset} {group.task}: {note}"
                if text not in notes:
                    notes.append(text)
    table.notes = notes
    return table
