"""The ablation table: the variants of the proposed (paper) model and the options that differ."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from asebench.report.aggregate import MethodCells, differing_options, tail_f1, tasks_of
from asebench.report.sections.common import no_result, status_notes, tail_cell
from asebench.report.tables import Cell, Column, Table, mean_std_cell


def option_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def ablation_table(groups: Sequence[MethodCells]) -> Table | None:
    """The paper model's variants (methods that declare ``proposed``) with their option differences."""
    paper = [g for g in groups if g.proposed]
    if not paper:
        return None
    tasks = tasks_of(paper)
    variants: dict[tuple[str, str], dict[str, MethodCells]] = {}
    for group in paper:
        variants.setdefault((group.dataset, group.method), {})[group.task] = group
    option_sets = {key: next(iter(by_task.values())).options for key, by_task in variants.items()}
    keys = differing_options(list(option_sets.values()))
    option_columns = [Column(k) for k in keys] or [Column("options")]
    columns = (
        [Column("dataset"), Column("variant")] + option_columns + [Column(f"{t} macro-F1", "r", "max") for t in tasks]
    )
    if "multiclass" in tasks:
        columns.append(Column("multiclass tail-F1", "r", "max"))
    table = Table(
        key="ablation",
        title="Ablation of the paper model",
        columns=columns,
        caption=(
            "Variants of the paper model (method family 'paper'); option columns show only the options that differ "
            "between variants. Mean ± std over seeds/folds; best per dataset in bold, second underlined."
        ),
        data_columns=[
            "dataset",
            "variant",
            "task",
            "options",
            "cells",
            "macro_f1_mean",
            "macro_f1_std",
            "tail_f1_mean",
        ],
    )
    for dataset, method in sorted(variants):
        by_task = variants[(dataset, method)]
        options = option_sets[(dataset, method)]
        cells = [Cell(dataset), Cell(method)]
        cells += [Cell(option_text(options[k]) if k in options else "–") for k in keys] or [Cell("(single variant)")]
        for task in tasks:
            found = by_task.get(task)
            cells.append(mean_std_cell(found.mean, found.std) if found is not None and found.ok else no_result(found))
            if found is not None:
                tail = tail_f1(found)
                table.data_rows.append(
                    {
                        "dataset": dataset,
                        "variant": method,
                        "task": task,
                        "options": json.dumps(options, sort_keys=True),
                        "cells": len(found.ok),
                        "macro_f1_mean": found.mean,
                        "macro_f1_std": found.std,
                        "tail_f1_mean": tail[0] if tail else None,
                    }
                )
        if "multiclass" in tasks:
            cells.append(tail_cell(by_task.get("multiclass")))
        table.add_row(cells, group=dataset)
    table.notes = status_notes(paper)
    return table
