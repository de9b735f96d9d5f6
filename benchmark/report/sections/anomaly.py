"""The anomaly tables: whatever image- and pixel-level metrics the records carry, pooled and per category.

Records of drawn splits (holdout, k-fold) are pooled per method (:func:`anomaly_table`); records of the
per-category protocols (``official``, ``transfer``) get the papers' layout (:func:`anomaly_category_table`):
one block per method and protocol, rows = categories and their unweighted mean, columns = metrics.
"""

from __future__ import annotations

import statistics as pystats
from collections.abc import Sequence
from typing import Any

from asebench.api.records import PLACEHOLDER_WEIGHTS_NOTE, CellRecord, has_placeholder_weights
from asebench.report.aggregate import MethodCells, task_rank
from asebench.report.anomaly_table import (
    ANOMALY_COLUMNS,
    MEAN_ROW,
    METRIC_LABELS,
    anomaly_rows,
    block_title,
    blocks_of,
    category_of,
)
from asebench.report.tables import Cell, Column, Table, fmt, mean_std, mean_std_cell
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
    carrying = [r for g in groups for r in g.ok if r.get("anomaly_metrics") and category_of(r) is None]
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
        records = [r for r in group.ok if r.get("anomaly_metrics") and category_of(r) is None]
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
            notes.append(f"{group.method} on {group.dataset} {group.task}: {PLACEHOLDER_WEIGHTS_NOTE}")
        for record in records:
            for note in record["anomaly_metrics"].get("notes") or []:
                text = f"{group.method} on {group.dataset} {group.task}: {note}"
                if text not in notes:
                    notes.append(text)
    table.notes = notes
    return table


def anomaly_category_table(groups: Sequence[MethodCells]) -> Table | None:
    """Per-category protocols in the papers' layout: a section per method and protocol, a row per category + mean."""
    rows = anomaly_rows(r for g in groups for r in g.ok if category_of(r) is not None)
    blocks = blocks_of(rows)
    if not blocks:
        return None
    metrics = [m for m in METRIC_KEYS if any(r.get(f"{m}_mean") is not None for r in rows)]
    table = Table(
        key="anomaly_categories",
        title="Anomaly detection metrics per category",
        columns=[Column("category"), Column("cells", "r")] + [Column(METRIC_LABELS[m], "r") for m in metrics],
        caption=(
            "Official / transfer protocols: one block per method and protocol; each category's mean ± std over "
            "seeds, then the unweighted mean over categories (fractions in [0, 1]). I- image level, P- pixel level."
        ),
        data_columns=[c for c in ANOMALY_COLUMNS if c != "note"],
    )
    for key, block in blocks.items():
        placeholder = any(r.get("placeholder_weights") for r in block)
        table.section(block_title(key, placeholder))
        seeds = max((r["cells"] for r in block if r["category"] != MEAN_ROW), default=1)
        for row in block:
            repeats = seeds if row["category"] == MEAN_ROW else row["cells"]
            cells = [Cell(row["category"]), Cell(str(row["cells"]))]
            for metric in metrics:
                mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
                cells.append(Cell(mean_std(mean, std) if repeats > 1 and mean is not None else fmt(mean)))
            table.add_row(cells, group=block_title(key, placeholder))
            table.data_rows.append(row)
        if placeholder:
            table.notes.append(f"{block_title(key, placeholder)}: {PLACEHOLDER_WEIGHTS_NOTE}")
        for row in block:
            for note in (row.get("note") or "").split("; "):
                text = f"{block_title(key, placeholder)}, {row['category']}: {note}"
                if note and note != PLACEHOLDER_WEIGHTS_NOTE and text not in table.notes:
                    table.notes.append(text)
    return table
