"""The run summary: rows and the headline table built from cell records (no model is run here).

One summary row per (dataset, task, method): macro-F1 mean and std over the
finished seeds/folds, the mean of the cells' bootstrap CI bounds, tail-bucket
macro-F1 and the worst class. Rows for cells that failed or were skipped say
so instead of showing a number. :func:`summary_table` is what ``summary.md``
and the console show: with several seeds/folds a score reads ``mean ± std``
over them; with one, the bootstrap CI over test samples, ``0.835 [0.771, 0.893]``
(a std over one seed would read ``± 0.000`` and hide how wide the interval
is); with one seed and the bootstrap off, just the value. :func:`summary_title`
says which.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from asebench.api.records import PLACEHOLDER_WEIGHTS_NOTE, CellRecord, has_placeholder_weights
from asebench.report.aggregate import (
    GROUP_COLUMNS,
    MethodCells,
    bucket_scores,
    group_records,
    ordered_tasks,
    worst_classes,
)
from asebench.report.tables import Cell, Column, Table, fmt, interval, mean_std

SUMMARY_COLUMNS = (
    *GROUP_COLUMNS,
    "ci_low_mean",
    "ci_high_mean",
    "ci_confidence",
    "accuracy_mean",
    "balanced_accuracy_mean",
    "head_f1_mean",
    "medium_f1_mean",
    "tail_f1_mean",
    "worst_class",
    "note",
)
PER_CLASS_COLUMNS = (
    "dataset",
    "task",
    "method",
    "seed",
    "fold",
    "class",
    "bucket",
    "train_count",
    "precision",
    "recall",
    "f1",
    "support",
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
    row.update(
        dataset=group.dataset,
        task=group.task,
        method=group.method,
        family=source["method"].get("family"),
        cells=len(ok),
    )
    row["status"] = group.status_text()
    if not ok:
        source = skipped[0] if row["status"] == "skipped" else failed[0]
        row["note"] = source.get("skip_reason") or (source.get("error") or {}).get("message", "")
        return row
    row["macro_f1_mean"], row["macro_f1_std"] = group.mean, group.std
    row["ci_low_mean"] = _mean([r["metrics"]["bootstrap"]["low"] for r in ok])
    row["ci_high_mean"] = _mean([r["metrics"]["bootstrap"]["high"] for r in ok])
    row["ci_confidence"] = ok[0]["metrics"]["bootstrap"].get(
        "confidence"
    )  # the level of the CI bounds (the title says it)
    row["accuracy_mean"] = _mean([r["metrics"]["accuracy"] for r in ok])
    row["balanced_accuracy_mean"] = _mean([r["metrics"]["balanced_accuracy"] for r in ok])
    for bucket, score in bucket_scores(group).items():
        row[f"{bucket}_f1_mean"] = score[0] if score else None
    (worst,) = worst_classes(group, 1)
    text = f"{worst.name} ({worst.f1:.2f})"
    row["worst_class"] = f"{text} -> {worst.partner}" if worst.partner else text
    notes = [PLACEHOLDER_WEIGHTS_NOTE] if any(has_placeholder_weights(r) for r in ok) else []
    notes += [(r.get("error") or {}).get("message", "") for r in failed]
    row["note"] = "; ".join(notes) or None
    return row


def per_class_rows(records: Iterable[CellRecord]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        if record["status"] != "ok":
            continue
        cell = record["cell"]
        buckets = record["tail"]["buckets"]
        for bucket, row in zip(buckets, record["metrics"]["per_class"], strict=True):
            rows.append(
                {
                    "dataset": cell["dataset"],
                    "task": cell["task"],
                    "method": cell["method"],
                    "seed": cell["seed"],
                    "fold": cell["fold"],
                    "class": row["name"],
                    "bucket": bucket,
                    "train_count": row["train_count"],
                    "precision": row["precision"],
                    "recall": row["recall"],
                    "f1": row["f1"],
                    "support": row["support"],
                }
            )
    return rows


def summary_table(rows: Sequence[dict[str, Any]]) -> Table:
    """The run's headline table: one line per (dataset, method), macro-F1 per task, multiclass tail-F1 and worst class."""
    tasks = ordered_tasks(r["task"] for r in rows)
    names = ["dataset", "method", "family"] + [f"{t} macro-F1" for t in tasks]
    if "multiclass" in tasks:
        names += ["multiclass tail-F1", "worst class (multiclass)"]
    table = Table(key="summary", title="asebench summary", columns=[Column(name) for name in names])
    by_key = {(r["dataset"], r["method"], r["task"]): r for r in rows}
    for dataset, method in dict.fromkeys((r["dataset"], r["method"]) for r in rows):
        family = next(r["family"] for r in rows if r["dataset"] == dataset and r["method"] == method)
        placeholder = any(
            PLACEHOLDER_WEIGHTS_NOTE in (r["note"] or "")
            for r in rows
            if r["dataset"] == dataset and r["method"] == method
        )
        line = [dataset, f"{method} ⚠" if placeholder else method, family or ""] + [
            _score_text(by_key.get((dataset, method, task))) for task in tasks
        ]
        if "multiclass" in tasks:
            multi = by_key.get((dataset, method, "multiclass"))
            if multi is not None and multi["cells"]:
                line += [fmt(multi["tail_f1_mean"]), multi["worst_class"] or ""]
            else:
                line += ["–", ""]
        table.add_row([Cell(text) for text in line])
    return table


def _score_text(row: dict[str, Any] | None) -> str:
    if row is None:
        return "–"
    if not row["cells"]:
        return f"{row['status']} (see notes)"
    text = _score(row)
    return text if row["status"] == "ok" else f"{text} ({row['status']})"


def _form(row: dict[str, Any]) -> str:
    """How a scored row is shown: ``std`` (several cells), ``ci`` (one cell with a CI) or ``value``."""
    if row["cells"] > 1:
        return "std"
    return "ci" if row.get("ci_low_mean") is not None and row.get("ci_high_mean") is not None else "value"


def _score(row: dict[str, Any]) -> str:
    form = _form(row)
    if form == "std":
        return mean_std(row["macro_f1_mean"], row["macro_f1_std"])
    if form == "ci":
        return f"{fmt(row['macro_f1_mean'])} {interval(row['ci_low_mean'], row['ci_high_mean'])}"
    return fmt(row["macro_f1_mean"])


def summary_title(rows: Sequence[dict[str, Any]]) -> str:
    """What the scores in the summary table are: mean ± std over seeds/folds, a one-seed bootstrap CI, or both."""
    forms = {_form(r) for r in rows if r["cells"]}
    levels = {r.get("ci_confidence") for r in rows if r["cells"] and _form(r) == "ci"}
    level = next(iter(levels)) if len(levels) == 1 else None
    ci = (
        f"{level * 100:g}% bootstrap CI over test samples"
        if isinstance(level, (int, float))
        else "bootstrap CI over test samples"
    )
    parts = []
    if "std" in forms:
        parts.append("mean ± std over seeds/folds")
    if "ci" in forms:
        parts.append(f"one seed: value [{ci}]")
    if "value" in forms:
        parts.append("one seed, no bootstrap: value")
    return f"macro-F1 ({'; '.join(parts) or 'mean ± std over seeds/folds'})"


def table_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Why rows have no number (skip reason, error): one line per distinct reason, then the methods it covers.

    A reason that names its method (``method_options.winclip.weights``, ``weights for resnet18``) is
    grouped with the others by writing ``<method>`` there, so twenty methods skipped for want of
    weights read as one line, not twenty near-identical ones. With several datasets the line says on which.
    """
    groups: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for row in rows:
        if row["note"]:
            methods, datasets = groups.setdefault((row["status"], generic_note(row["note"], row["method"])), ([], []))
            methods.extend([] if row["method"] in methods else [row["method"]])
            datasets.extend([] if row["dataset"] in datasets else [row["dataset"]])
    several = len({row["dataset"] for row in rows}) > 1
    return [
        f"{status}: {note} -- {', '.join(methods)}" + (f" (on {', '.join(datasets)})" if several else "")
        for (status, note), (methods, datasets) in groups.items()
    ]


METHOD_PLACEHOLDER = "<method>"


def generic_note(note: str, method: str) -> str:
    """``note`` with the method's name, or the name it extends (``resnet18`` of ``resnet18-probe``), as ``<method>``.

    A name is replaced where it is a key (``method_options.NAME.``) or, when it cannot be an English
    word (it holds a digit, ``_`` or ``-``), wherever it stands alone: ``majority`` in "majority class" stays,
    and so does a name in a path or hub repo (``timm/resnet18.a1_in1k``).
    """
    parts = method.split("-")
    for name in ("-".join(parts[:end]) for end in range(len(parts), 0, -1)):
        pattern = rf"(?<=\.){re.escape(name)}(?=\.)"
        if re.search(r"[\d_-]", name):
            pattern += rf"|(?<![\w./-]){re.escape(name)}(?![\w-])"
        replaced = re.sub(pattern, METHOD_PLACEHOLDER, note)
        if replaced != note:
            return replaced
    return note
