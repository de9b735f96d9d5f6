"""Aggregating cell records into table rows (no model is run here).

One summary row per (dataset, task, method): macro-F1 mean and std over the
finished seeds/folds, the mean bootstrap CI bounds, tail-bucket macro-F1 and
the worst class. Rows for cells that failed or were skipped say so instead of
showing a number.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from asebench.api.records import CellRecord
from asebench.report.aggregate import MethodCells, bucket_scores, group_records, worst_classes

SUMMARY_COLUMNS = (
    "dataset", "task", "method", "family", "status", "cells", "macro_f1_mean", "macro_f1_std",
    "ci_low_mean", "ci_high_mean", "accuracy_mean", "balanced_accuracy_mean",
    "head_f1_mean", "medium_f1_mean", "tail_f1_mean", "worst_class", "note",
)
PER_CLASS_COLUMNS = (
    "dataset", "task", "method", "seed", "fold", "class", "bucket", "train_count",
    "precision", "recall", "f1", "support",
)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def summary_rows(records: Iterable[CellRecord]) -> list[dict[str, Any]]:
    """Aggregate records into one row per (dataset, task, method), in first-seen order.

    The figures come from :mod:`asebench.report.aggregate`, as the report's do,
    so both name the same means, tail-F1 and worst class.
    """
    return [_summary_row(group) for group in group_records(records, keep_order=True)]


def _summary_row(group: MethodCells) -> dict[str, Any]:
    ok, failed, skipped = group.ok, group.failed, group.skipped
    source = (ok or failed or skipped)[0]
    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS)
    row.update(dataset=group.dataset, task=group.task, method=group.method, family=source["method"].get("family"), cells=len(ok))
    if not ok:
        row["status"] = "skipped" if skipped and not failed else "failed"
        source = skipped[0] if row["status"] == "skipped" else failed[0]
        row["note"] = source.get("skip_reason") or (source.get("error") or {}).get("message", "")
        return row
    row["status"] = group.status_text()
    row["macro_f1_mean"], row["macro_f1_std"] = group.mean, group.std
    row["ci_low_mean"] = _mean([r["metrics"]["bootstrap"]["low"] for r in ok])
    row["ci_high_mean"] = _mean([r["metrics"]["bootstrap"]["high"] for r in ok])
    row["accuracy_mean"] = _mean([r["metrics"]["accuracy"] for r in ok])
    row["balanced_accuracy_mean"] = _mean([r["metrics"]["balanced_accuracy"] for r in ok])
    for bucket, score in bucket_scores(group).items():
        row[f"{bucket}_f1_mean"] = score[0] if score else None
    (worst,) = worst_classes(group, 1)
    text = f"{worst.name} ({worst.f1:.2f})"
    row["worst_class"] = f"{text} -> {worst.partner}" if worst.partner else text
    row["note"] = "; ".join((r.get("error") or {}).get("message", "") for r in failed) or None
    return row


def per_class_rows(records: Iterable[CellRecord]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        if record["status"] != "ok":
            continue
        cell = record["cell"]
        buckets = record["tail"]["buckets"]
        for bucket, row in zip(buckets, record["metrics"]["per_class"], strict=True):
            rows.append({
                "dataset": cell["dataset"], "task": cell["task"], "method": cell["method"],
                "seed": cell["seed"], "fold": cell["fold"], "class": row["name"], "bucket": bucket,
                "train_count": row["train_count"], "precision": row["precision"], "recall": row["recall"],
                "f1": row["f1"], "support": row["support"],
            })
    return rows


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _csv_value(row.get(c)) for c in columns})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6f}"
    return "" if value is None else value


def format_score(mean: float | None, std: float | None = None, digits: int = 3) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"


def main_table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The headline table: one line per (dataset, method), binary/multiclass macro-F1 and tail F1."""
    tasks = [t for t in ("binary", "multiclass") if any(r["task"] == t for r in rows)]
    header = ["dataset", "method", "family"]
    header += [f"{t} macro-F1" for t in tasks]
    if "multiclass" in tasks:
        header += ["multiclass tail-F1", "worst class (multiclass)"]
    by_key = {(r["dataset"], r["method"], r["task"]): r for r in rows}
    lines = []
    seen: list[tuple[str, str]] = []
    for r in rows:
        if (r["dataset"], r["method"]) not in seen:
            seen.append((r["dataset"], r["method"]))
    for dataset, method in seen:
        family = next(r["family"] for r in rows if r["dataset"] == dataset and r["method"] == method)
        line = [dataset, method, family or ""]
        for task in tasks:
            line.append(_score_cell_text(by_key.get((dataset, method, task))))
        if "multiclass" in tasks:
            multi = by_key.get((dataset, method, "multiclass"))
            ok = multi is not None and multi["cells"]
            line.append(format_score(multi["tail_f1_mean"]) if ok else "–")
            line.append((multi["worst_class"] or "") if ok else "")
        lines.append(line)
    return header, lines


def _score_cell_text(row: dict[str, Any] | None) -> str:
    if row is None:
        return "–"
    if not row["cells"]:
        return f"{row['status']} (see notes)"
    text = format_score(row["macro_f1_mean"], row["macro_f1_std"])
    return text if row["status"] == "ok" else f"{text} ({row['status']})"


def table_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Why a row has no number (skip reason, error): one line per distinct (dataset, method, note)."""
    seen: dict[tuple[str, str, str], str] = {}
    for row in rows:
        if row["note"]:
            seen.setdefault((row["dataset"], row["method"], row["note"]), row["status"])
    return [f"{method} on {dataset} ({status}): {note}" for (dataset, method, note), status in seen.items()]


def to_markdown(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(escape(c) for c in line) + " |" for line in lines]
    return "\n".join(out) + "\n"
