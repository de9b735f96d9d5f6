"""Per-class and tail tables: precision/recall/F1 per class, head/medium/tail F1 and the worst classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asebench.report.aggregate import MethodCells, bucket_scores, by_dataset_task, per_class, task_rank, worst_classes
from asebench.report.sections.common import count_text
from asebench.report.tables import Cell, Column, Table, fmt, mean_std_cell, shown


def per_class_table(groups: Sequence[MethodCells]) -> Table:
    """Precision/recall/F1/support per class and method, classes by training frequency (descending)."""
    table = Table(
        key="per_class",
        title="Per-class precision, recall and F1",
        columns=[
            Column("dataset"),
            Column("task"),
            Column("class"),
            Column("bucket"),
            Column("train", "r"),
            Column("method"),
            Column("precision", "r", "max"),
            Column("recall", "r", "max"),
            Column("F1", "r", "max"),
            Column("support", "r"),
        ],
        caption=(
            "Means over seeds/folds; train and support are per-cell counts (mean). Classes ordered by training "
            "frequency, most frequent first. Best method per class in bold, second underlined."
        ),
        data_columns=[
            "dataset",
            "task",
            "class",
            "bucket",
            "train_count",
            "method",
            "precision",
            "recall",
            "f1",
            "f1_std",
            "support",
        ],
    )
    for (dataset, task), members in sorted(
        by_dataset_task(groups).items(), key=lambda kv: (kv[0][0], task_rank(kv[0][1]))
    ):
        scored = sorted((g for g in members if g.ok), key=lambda g: g.method)
        if not scored:
            continue
        tables = {g.method: {row.name: row for row in per_class(g)} for g in scored}
        order = [row.name for row in per_class(scored[0])]
        for name in order:
            for group in scored:
                row = tables[group.method].get(name)
                if row is None:
                    continue
                table.add_row(
                    [
                        Cell(dataset),
                        Cell(task),
                        Cell(name),
                        Cell(row.bucket),
                        Cell(count_text(row.train_count)),
                        Cell(group.method),
                        Cell(fmt(row.precision), shown(row.precision)),
                        Cell(fmt(row.recall), shown(row.recall)),
                        Cell(fmt(row.f1), shown(row.f1)),
                        Cell(count_text(row.support)),
                    ],
                    group=f"{dataset}/{task}/{name}",
                )
                table.data_rows.append(
                    {
                        "dataset": dataset,
                        "task": task,
                        "class": name,
                        "bucket": row.bucket,
                        "train_count": row.train_count,
                        "method": group.method,
                        "precision": row.precision,
                        "recall": row.recall,
                        "f1": row.f1,
                        "f1_std": row.f1_std,
                        "support": row.support,
                    }
                )
    return table


def tail_table(groups: Sequence[MethodCells]) -> Table:
    """Head/medium/tail macro-F1 and the worst classes with their most confused partner."""
    table = Table(
        key="tail",
        title="Head, medium and tail classes",
        columns=[
            Column("dataset"),
            Column("task"),
            Column("method"),
            Column("head F1", "r", "max"),
            Column("medium F1", "r", "max"),
            Column("tail F1", "r", "max"),
            Column("worst classes (F1 → most confused with)", latex_width="6.5cm"),
        ],
        data_columns=[
            "dataset",
            "task",
            "method",
            "head_f1_mean",
            "head_f1_std",
            "medium_f1_mean",
            "medium_f1_std",
            "tail_f1_mean",
            "tail_f1_std",
            "worst_classes",
        ],
    )
    notes = []
    thresholds: dict[str, Any] | None = None
    for (dataset, task), members in sorted(
        by_dataset_task(groups).items(), key=lambda kv: (kv[0][0], task_rank(kv[0][1]))
    ):
        scored = sorted((g for g in members if g.ok), key=lambda g: g.method)
        if not scored:
            continue
        thresholds = thresholds or scored[0].ok[0]["tail"].get("thresholds")
        buckets: dict[str, list[str]] = {"head": [], "medium": [], "tail": []}
        for row in per_class(scored[0]):
            buckets.setdefault(row.bucket, []).append(row.name)
        notes.append(f"{dataset} {task}: " + "; ".join(f"{b} = {', '.join(n) or '–'}" for b, n in buckets.items()))
        for group in scored:
            scores = bucket_scores(group)
            worst = worst_classes(group)
            worst_text = "; ".join(f"{w.name} {w.f1:.2f}" + (f" → {w.partner}" if w.partner else "") for w in worst)
            cells = [Cell(dataset), Cell(task), Cell(group.method)]
            data: dict[str, Any] = {
                "dataset": dataset,
                "task": task,
                "method": group.method,
                "worst_classes": worst_text,
            }
            for bucket in ("head", "medium", "tail"):
                value = scores[bucket]
                cells.append(mean_std_cell(*value) if value else Cell("–"))
                data[f"{bucket}_f1_mean"], data[f"{bucket}_f1_std"] = value if value else (None, None)
            cells.append(Cell(worst_text))
            table.add_row(cells, group=f"{dataset}/{task}")
            table.data_rows.append(data)
    if thresholds:
        table.caption = (
            f"Macro-F1 within each bucket, mean ± std over seeds/folds. Buckets by training count relative to the "
            f"largest class: head ≥ {thresholds['head_ratio']:g}×, tail < {thresholds['tail_ratio']:g}×, medium in "
            "between. Worst classes: lowest mean F1, partner from the confusion matrix summed over seeds."
        )
    table.notes = notes
    return table
