"""The anomaly results table, beside the macro-F1 summary.

One row per (dataset, task, method) over the finished cells whose record has
``anomaly_metrics`` (see :mod:`asebench.scoring.anomaly`): each metric's mean
and standard deviation over seeds/folds, ignoring cells where the metric is
undefined. Rows from random-init weights (``has_placeholder_weights`` of a
record) are flagged, because such numbers
only show that the plumbing works (``clip-anomaly.md``: never compare them with
published results).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from asebench.api.records import CellRecord, has_placeholder_weights
from asebench.report.tables import Cell, Column, Table, markdown_table, to_csv
from asebench.scoring.anomaly import METRIC_KEYS

METRIC_LABELS = {
    "image_auroc": "I-AUROC",
    "image_ap": "I-AP",
    "image_f1_max": "I-F1max",
    "pixel_auroc": "P-AUROC",
    "pixel_ap": "P-AP",
    "pixel_f1_max": "P-F1max",
    "pixel_pro": "PRO@30%",
}
ANOMALY_COLUMNS = (
    "dataset",
    "task",
    "method",
    "cells",
    *(f"{key}_{stat}" for key in METRIC_KEYS for stat in ("mean", "std")),
    "weights",
    "note",
)  # rows also hold "placeholder_weights" (not a CSV column): it marks the row in Markdown
RANDOM_WEIGHTS_NOTE = "random-init weights: plumbing check only, the numbers are meaningless"


def anomaly_rows(records: Iterable[CellRecord]) -> list[dict[str, Any]]:
    """Aggregate ok records that carry ``anomaly_metrics`` into one row per (dataset, task, method)."""
    groups: dict[tuple[str, str, str], list[CellRecord]] = defaultdict(list)
    for record in records:
        if record.get("status") == "ok" and record.get("anomaly_metrics"):
            cell = record["cell"]
            groups[(cell["dataset"], cell["task"], cell["method"])].append(record)
    return [_row(key, group) for key, group in groups.items()]


def _row(key: tuple[str, str, str], group: list[CellRecord]) -> dict[str, Any]:
    dataset, task, method = key
    row: dict[str, Any] = dict.fromkeys(ANOMALY_COLUMNS)
    row.update(dataset=dataset, task=task, method=method, cells=len(group))
    for metric in METRIC_KEYS:
        values = [r["anomaly_metrics"].get(metric) for r in group]
        present = [float(v) for v in values if v is not None]
        if present:
            row[f"{metric}_mean"] = statistics.fmean(present)
            row[f"{metric}_std"] = statistics.stdev(present) if len(present) > 1 else 0.0
    kinds = sorted({str((r["method"].get("provenance") or {}).get("weights", "")) for r in group} - {""})
    row["weights"] = ", ".join(kinds) or None
    row["placeholder_weights"] = any(has_placeholder_weights(r) for r in group)
    notes: list[str] = []
    if row["placeholder_weights"]:
        notes.append(RANDOM_WEIGHTS_NOTE)
    for record in group:
        for note in record["anomaly_metrics"].get("notes") or []:
            if note not in notes:
                notes.append(note)
    row["note"] = "; ".join(notes) or None
    return row


def anomaly_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV (fractions in [0, 1], six decimals), in the summary's CSV style."""
    return to_csv(rows, ANOMALY_COLUMNS)


def anomaly_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table in percent (mean ± std over cells), metrics with no value in any row left out."""
    metrics = [m for m in METRIC_KEYS if any(r.get(f"{m}_mean") is not None for r in rows)]
    header = ["dataset", "task", "method", "cells", *(METRIC_LABELS[m] for m in metrics)]
    table = Table(key="anomaly", title="asebench anomaly metrics", columns=[Column(name) for name in header])
    for row in rows:
        flag = " ⚠" if row.get("placeholder_weights") else ""
        texts = [row["dataset"], row["task"], f"{row['method']}{flag}", str(row["cells"])]
        texts += [_percent(row.get(f"{m}_mean"), row.get(f"{m}_std"), row["cells"]) for m in metrics]
        table.add_row([Cell(text) for text in texts])
    text = (
        "# asebench anomaly metrics\n\nImage (I-) and pixel (P-) level, in percent, mean ± std over seeds/folds. "
        "F1max = best F1 over thresholds; PRO@30% = per-region overlap integrated to 30% FPR (MVTec AD).\n\n"
        + markdown_table(table)
    )
    notes = [(r["dataset"], r["task"], r["method"], r["note"]) for r in rows if r.get("note")]
    text += "".join(f"\n- {method} on {dataset} ({task}): {note}" for dataset, task, method, note in notes)
    if any(r.get("placeholder_weights") for r in rows):
        text += f"\n\n⚠ {RANDOM_WEIGHTS_NOTE}."
    return text + "\n"


def _percent(mean: float | None, std: float | None, cells: int) -> str:
    if mean is None:
        return "–"
    if cells > 1 and std is not None:
        return f"{100 * mean:.1f} ± {100 * std:.1f}"
    return f"{100 * mean:.1f}"
