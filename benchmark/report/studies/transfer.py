"""The transfer matrix: train dataset x test dataset per method, from records of the ``transfer`` protocol.

A transfer cell fits on ``split.source_dataset.name`` and scores one category
of the cell's dataset (the target). The matrix entry is the target's mean image
AUROC over its categories (each category's mean over seeds, then the unweighted
mean over categories, as :mod:`asebench.report.anomaly_table` computes it). The
diagonal is the in-domain number: records of the ``official`` protocol on the
same dataset, where they exist.
"""

from __future__ import annotations

import statistics as pystats
from collections import defaultdict
from collections.abc import Sequence

from asebench.api.records import CellRecord
from asebench.report.aggregate import MethodCells, number
from asebench.report.studies.common import protocol_of
from asebench.report.tables import Cell, Column, Table

ABSENT = (
    "no transfer results: no record of the transfer protocol (split: {protocol: transfer, train: SOURCE}) "
    "with an image AUROC"
)
Entry = tuple[float, int, int]  # mean over categories, categories, cells


def _source(record: CellRecord) -> str | None:
    source = (record.get("split") or {}).get("source_dataset")
    return str(source.get("name")) if isinstance(source, dict) and source.get("name") else None


def _mean_over_categories(records: Sequence[CellRecord]) -> Entry | None:
    by_category: dict[str, list[float]] = defaultdict(list)
    for record in records:
        value = number((record.get("anomaly_metrics") or {}).get("image_auroc"))
        if value is not None:
            by_category[str((record.get("split") or {}).get("category"))].append(value)
    if not by_category:
        return None
    means = [pystats.fmean(values) for values in by_category.values()]
    return pystats.fmean(means), len(means), sum(len(v) for v in by_category.values())


def transfer_matrix(groups: Sequence[MethodCells]) -> tuple[dict[str, dict[tuple[str, str], Entry]], list[str]]:
    """The matrix (method -> (train, test) -> entry) and notes on transfer records that could not be placed."""
    cells: dict[tuple[str, str, str], list[CellRecord]] = defaultdict(list)
    notes: list[str] = []
    for group in groups:
        for record in group.ok:
            if protocol_of(record) == "transfer":
                source = _source(record)
                if source is None:
                    notes.append(f"{group.method} on {group.dataset}: a transfer record without its source dataset")
                    continue
                cells[(group.method, source, group.dataset)].append(record)
    methods = {m for m, _, _ in cells}
    for group in groups:  # the in-domain diagonal
        if group.method in methods:
            official = [r for r in group.ok if protocol_of(r) == "official"]
            if official:
                cells[(group.method, group.dataset, group.dataset)] += official
    matrix: dict[str, dict[tuple[str, str], Entry]] = defaultdict(dict)
    for (method, source, target), records in sorted(cells.items()):
        entry = _mean_over_categories(records)
        if entry is None:
            notes.append(f"{method}, {source} -> {target}: no image AUROC in the records")
        else:
            matrix[method][(source, target)] = entry
    return dict(matrix), list(dict.fromkeys(notes))


def transfer_table(groups: Sequence[MethodCells]) -> Table | None:
    """One block per method: rows = train dataset, columns = test datasets; None without transfer records."""
    matrix, notes = transfer_matrix(groups)
    matrix = {m: entries for m, entries in matrix.items() if any(s != t for s, t in entries)}
    if not matrix:
        return None
    targets = sorted({t for entries in matrix.values() for _, t in entries})
    table = Table(
        key="transfer",
        title="Cross-dataset transfer (image AUROC)",
        columns=[Column("train on"), *(Column(f"test on {t}", "r") for t in targets)],
        caption=(
            "Transfer protocol: fitted on the row's dataset, scored on the column's; each entry is the mean image "
            "AUROC over the test dataset's categories (each category's mean over seeds counts once). Entries marked "
            "(in-domain): the official protocol on the same dataset, where it was run."
        ),
        data_columns=["method", "train_dataset", "test_dataset", "in_domain", "image_auroc", "categories", "cells"],
    )
    for method, entries in sorted(matrix.items()):
        table.section(method)
        for source in sorted({s for s, _ in entries}):
            row = [Cell(source)]
            for target in targets:
                entry = entries.get((source, target))
                text = "–" if entry is None else f"{entry[0]:.3f}" + (" (in-domain)" if source == target else "")
                row.append(Cell(text, None if entry is None else round(entry[0], 3)))
                if entry is not None:
                    table.data_rows.append(
                        {
                            "method": method,
                            "train_dataset": source,
                            "test_dataset": target,
                            "in_domain": source == target,
                            "image_auroc": entry[0],
                            "categories": entry[1],
                            "cells": entry[2],
                        }
                    )
            table.add_row(row, group=method)
        if not any(s == t for s, t in entries):
            notes.append(f"{method}: no official-protocol records on the training dataset, so no in-domain diagonal")
    table.notes = notes
    return table
