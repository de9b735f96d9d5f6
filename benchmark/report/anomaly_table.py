"""The anomaly results tables, beside the macro-F1 summary: pooled rows and the papers' per-category blocks.

Records come in two kinds (see :mod:`asebench.scoring.anomaly` for the metrics):

* drawn splits (``holdout``, ``kfold``): one row per (dataset, task, method,
  protocol) with each metric's mean and standard deviation over seeds/folds;
* per-category protocols (``official``, ``transfer``; the record's
  ``split.category``): one *block* per (dataset, task, method, protocol), the
  layout of the WinCLIP / APRIL-GAN / AnomalyCLIP tables -- one row per
  category (mean ± std over seeds) and a ``mean`` row, the **unweighted** mean
  over categories of the per-category means (each category counts once,
  whatever its number of test images). The mean row's std is the std over
  seeds of the seed-wise category means, from the seeds that cover every
  category.

Cells where a metric is undefined are ignored for that metric (a category
without one is left out of the mean, and the block's note says so). Rows from
random-init weights (``has_placeholder_weights`` of a record) are flagged,
because such numbers only show that the plumbing works: never compare them
with published results.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from asebench.api.records import PLACEHOLDER_WEIGHTS_NOTE, CellRecord, has_placeholder_weights
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
    "protocol",
    "category",
    "cells",
    *(f"{key}_{stat}" for key in METRIC_KEYS for stat in ("mean", "std")),
    "weights",
    "note",
)  # rows also hold "placeholder_weights" (not a CSV column): it marks the row in Markdown
MEAN_ROW = "mean"  # the category of a block's mean row
BlockKey = tuple[str, str, str, str]  # dataset, task, method, protocol


def protocol_label(record: CellRecord) -> str:
    """The record's split protocol as tables name it; a transfer names its source and what it was fitted on."""
    split = record.get("split") or {}
    protocol = str(split.get("protocol", "holdout"))
    source = split.get("source_dataset")
    if protocol == "transfer" and isinstance(source, dict):
        return f"transfer from {source.get('name')} (fit on {source.get('fit_on')})"
    return protocol


def category_of(record: CellRecord) -> str | None:
    """The category a per-category protocol's cell scores; None for drawn splits."""
    category = (record.get("split") or {}).get("category")
    return None if category is None else str(category)


def anomaly_rows(records: Iterable[CellRecord]) -> list[dict[str, Any]]:
    """Pooled rows (drawn splits) first, then each per-category block's rows (categories, then ``mean``)."""
    pooled: dict[BlockKey, list[CellRecord]] = defaultdict(list)
    blocks: dict[BlockKey, dict[str, list[CellRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if record.get("status") == "ok" and record.get("anomaly_metrics"):
            cell = record["cell"]
            key = (cell["dataset"], cell["task"], cell["method"], protocol_label(record))
            category = category_of(record)
            if category is None:
                pooled[key].append(record)
            else:
                blocks[key][category].append(record)
    rows = [_row(key, None, group) for key, group in pooled.items()]
    for key, by_category in blocks.items():
        rows += category_block(key, by_category)
    return rows


def _row(key: BlockKey, category: str | None, group: list[CellRecord]) -> dict[str, Any]:
    """Mean ± std over the cells of ``group`` (seeds/folds, or a category's seeds)."""
    row = _blank(key, category, group)
    row["cells"] = len(group)
    for metric in METRIC_KEYS:
        present = _values(group, metric)
        if present:
            row[f"{metric}_mean"] = statistics.fmean(present)
            row[f"{metric}_std"] = statistics.stdev(present) if len(present) > 1 else 0.0
    notes = [PLACEHOLDER_WEIGHTS_NOTE] if row["placeholder_weights"] else []
    for record in group:
        notes += [note for note in record["anomaly_metrics"].get("notes") or [] if note not in notes]
    row["note"] = "; ".join(notes) or None
    return row


def category_block(key: BlockKey, by_category: dict[str, list[CellRecord]]) -> list[dict[str, Any]]:
    """One row per category (sorted) and the ``mean`` row: the unweighted mean over categories."""
    rows = [_row(key, category, by_category[category]) for category in sorted(by_category)]
    everything = [r for group in by_category.values() for r in group]
    mean = _blank(key, MEAN_ROW, everything)
    mean["cells"] = len(everything)
    notes = [PLACEHOLDER_WEIGHTS_NOTE] if mean["placeholder_weights"] else []
    for metric in METRIC_KEYS:
        per_category = [r[f"{metric}_mean"] for r in rows if r[f"{metric}_mean"] is not None]
        if not per_category:
            continue
        mean[f"{metric}_mean"] = statistics.fmean(per_category)
        mean[f"{metric}_std"] = _seed_spread(by_category, metric)
        if len(per_category) < len(rows):
            notes.append(f"{METRIC_LABELS[metric]} mean over {len(per_category)} of {len(rows)} categories")
    mean["note"] = "; ".join(notes) or None
    return [*rows, mean]


def _seed_spread(by_category: dict[str, list[CellRecord]], metric: str) -> float | None:
    """Std over seeds of the seed-wise mean over categories, from the seeds that have every category's value."""
    by_seed: dict[int, dict[str, float]] = defaultdict(dict)
    for category, group in by_category.items():
        for record in group:
            value = record["anomaly_metrics"].get(metric)
            if value is not None:
                by_seed[int(record["cell"]["seed"])][category] = float(value)
    covered = {c for values in by_seed.values() for c in values}
    complete = [statistics.fmean(v.values()) for v in by_seed.values() if set(v) == covered]
    if not complete:
        return None
    return statistics.stdev(complete) if len(complete) > 1 else 0.0


def _blank(key: BlockKey, category: str | None, group: list[CellRecord]) -> dict[str, Any]:
    dataset, task, method, protocol = key
    row: dict[str, Any] = dict.fromkeys(ANOMALY_COLUMNS)
    row.update(dataset=dataset, task=task, method=method, protocol=protocol, category=category)
    kinds = sorted({str((r["method"].get("provenance") or {}).get("weights", "")) for r in group} - {""})
    row["weights"] = ", ".join(kinds) or None
    row["placeholder_weights"] = any(has_placeholder_weights(r) for r in group)
    return row


def _values(group: Sequence[CellRecord], metric: str) -> list[float]:
    values = [r["anomaly_metrics"].get(metric) for r in group]
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def blocks_of(rows: Sequence[dict[str, Any]]) -> dict[BlockKey, list[dict[str, Any]]]:
    """The per-category rows grouped by block, in row order."""
    blocks: dict[BlockKey, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("category") is not None:
            key = (row["dataset"], row["task"], row["method"], row["protocol"])
            blocks.setdefault(key, []).append(row)
    return blocks


def block_title(key: BlockKey, placeholder: bool) -> str:
    """``winclip ⚠ — anomaly-synth, official, binary``: method, flagged when on random weights, then data."""
    dataset, task, method, protocol = key
    return f"{method}{' ⚠' if placeholder else ''} — {dataset}, {protocol}, {task}"


def anomaly_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV (fractions in [0, 1], six decimals), in the summary's CSV style."""
    return to_csv(rows, ANOMALY_COLUMNS)


def anomaly_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown in percent: the pooled table (mean ± std over cells), then one per-category table per block."""
    text = (
        "# asebench anomaly metrics\n\nImage (I-) and pixel (P-) level, in percent. "
        "F1max = best F1 over thresholds; PRO@30% = per-region overlap integrated to 30% FPR (MVTec AD).\n"
    )
    pooled = [r for r in rows if r.get("category") is None]
    if pooled:
        text += "\nMean ± std over seeds/folds.\n\n" + _pooled_markdown(pooled)
    blocks = blocks_of(rows)
    if blocks:
        text += (
            "\n## Per category\n\nOne block per method and protocol: each category's mean (± std over seeds), "
            "then their unweighted mean over categories, as the papers report it.\n"
        )
    for key, block in blocks.items():
        text += f"\n### {block_title(key, any(r.get('placeholder_weights') for r in block))}\n\n"
        text += _block_markdown(block)
    if any(r.get("placeholder_weights") for r in rows):
        text += f"\n⚠ {PLACEHOLDER_WEIGHTS_NOTE}.\n"
    return text


def _pooled_markdown(rows: Sequence[dict[str, Any]]) -> str:
    metrics = _shown_metrics(rows)
    header = ["dataset", "task", "method", "cells", *(METRIC_LABELS[m] for m in metrics)]
    table = Table(key="anomaly", title="asebench anomaly metrics", columns=[Column(name) for name in header])
    for row in rows:
        flag = " ⚠" if row.get("placeholder_weights") else ""
        texts = [row["dataset"], row["task"], f"{row['method']}{flag}", str(row["cells"])]
        texts += [_percent(row.get(f"{m}_mean"), row.get(f"{m}_std"), row["cells"]) for m in metrics]
        table.add_row([Cell(text) for text in texts])
    notes = [(r["dataset"], r["task"], r["method"], r["note"]) for r in rows if r.get("note")]
    return markdown_table(table) + "".join(f"\n- {method} on {d} ({task}): {note}" for d, task, method, note in notes)


def _block_markdown(rows: Sequence[dict[str, Any]]) -> str:
    metrics = _shown_metrics(rows)
    header = ["category", "cells", *(METRIC_LABELS[m] for m in metrics)]
    table = Table(key="anomaly", title="", columns=[Column(header[0]), *(Column(h, "r") for h in header[1:])])
    seeds = max((r["cells"] for r in rows if r["category"] != MEAN_ROW), default=1)  # the mean row's std is over seeds
    for row in rows:
        repeats = seeds if row["category"] == MEAN_ROW else row["cells"]
        texts = [row["category"], str(row["cells"])]
        texts += [_percent(row.get(f"{m}_mean"), row.get(f"{m}_std"), repeats) for m in metrics]
        table.add_row([Cell(text) for text in texts])
    text = markdown_table(table)
    notes = [f"{r['category']}: {r['note']}" for r in rows if r.get("note") and r["note"] != PLACEHOLDER_WEIGHTS_NOTE]
    return text + "".join(f"\n- {note}" for note in notes) + ("\n" if notes else "")


def _shown_metrics(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The metrics with a value in some row (a metric undefined everywhere is left out)."""
    return [m for m in METRIC_KEYS if any(r.get(f"{m}_mean") is not None for r in rows)]


def _percent(mean: float | None, std: float | None, cells: int) -> str:
    if mean is None:
        return "–"
    if cells > 1 and std is not None:
        return f"{100 * mean:.1f} ± {100 * std:.1f}"
    return f"{100 * mean:.1f}"
