"""The OCR accuracy table of a run: how well each method read the printed numbers.

One row per (dataset, task, method) whose records carry ``reading_metrics``
(methods that return their OCR readings, on datasets that know the printed
values), averaged over seeds/folds. Built from the stored per-cell scores only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from asebench.api.records import CellRecord
from asebench.report.tables import Cell, Column, Table, markdown_table, to_csv

READING_COLUMNS = ("dataset", "task", "method", "cells", "numbers", "exact_share", "read_share", "mae")


def reading_rows(records: Iterable[CellRecord]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        scores = record.get("reading_metrics")
        if record.get("status") == "ok" and scores:
            cell = record["cell"]
            groups[(cell["dataset"], cell["task"], cell["method"])].append(scores)
    rows = []
    for (dataset, task, method), cell_scores in sorted(groups.items()):
        maes = [s["mae"] for s in cell_scores if s.get("mae") is not None]
        rows.append(
            {
                "dataset": dataset,
                "task": task,
                "method": method,
                "cells": len(cell_scores),
                "numbers": int(sum(s["numbers"] for s in cell_scores)),
                "exact_share": float(np.mean([s["exact_share"] for s in cell_scores])),
                "read_share": float(np.mean([s["read_share"] for s in cell_scores])),
                "mae": float(np.mean(maes)) if maes else None,
            }
        )
    return rows


def reading_csv(rows: Sequence[dict[str, Any]]) -> str:
    return to_csv(rows, READING_COLUMNS)


def reading_markdown(rows: Sequence[dict[str, Any]]) -> str:
    header = ["dataset", "task", "method", "cells", "numbers scored", "read exactly", "read at all", "mean abs. error"]
    table = Table(key="ocr", title="OCR readings", columns=[Column(name) for name in header])
    for row in rows:
        table.add_row(
            [
                Cell(text)
                for text in [
                    row["dataset"],
                    row["task"],
                    row["method"],
                    str(row["cells"]),
                    str(row["numbers"]),
                    f"{100 * row['exact_share']:.1f} %",
                    f"{100 * row['read_share']:.1f} %",
                    "–" if row["mae"] is None else f"{row['mae']:.3f}",
                ]
            ]
        )
    return (
        "# OCR readings\n\nNumbers read off the test images, scored against the values the dataset printed "
        "(mean over seeds/folds).\n\n" + markdown_table(table) + "\n"
    )
