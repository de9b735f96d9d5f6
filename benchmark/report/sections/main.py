"""The main table: macro-F1 per method and task, with the pooled bootstrap CI and † marks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asebench.report.aggregate import GROUP_COLUMNS, MethodCells, ReportSettings, tasks_of
from asebench.report.comparisons import Comparison, comparison_index
from asebench.report.sections.common import (
    confidence_label,
    dagger_for,
    methods_by_dataset,
    no_result,
    reference_caption,
    status_notes,
)
from asebench.report.tables import DAGGER, Cell, Column, Table, interval, mean_std_cell
from asebench.scoring.bootstrap import Interval


def main_table(
    groups: Sequence[MethodCells],
    comparisons: Sequence[Comparison],
    intervals: dict[tuple[str, str, str], Interval | None],
    settings: ReportSettings,
) -> Table:
    """Methods x tasks: macro-F1 mean ± std over seeds and the pooled bootstrap CI over test samples."""
    tasks = tasks_of(groups)
    ci = confidence_label(settings)
    columns = [Column("dataset"), Column("method"), Column("family"), Column("seeds", "r")]
    for task in tasks:
        columns += [Column(f"{task} macro-F1", "r", "max"), Column(f"{task} {ci}", "r")]
    table = Table(
        key="main",
        title="Macro-F1 per method",
        columns=columns,
        caption=(
            f"Mean ± std over seeds/folds; {ci}: percentile bootstrap over test samples ({settings.bootstrap_samples} "
            f"resamples, pooled over seeds). Best per dataset in bold, second underlined. {DAGGER}: not significantly "
            f"different from the reference (paired bootstrap, Holm-corrected over the significance table, alpha = {settings.alpha:g}). "
            + reference_caption(comparisons)
        ).strip(),
        data_columns=[
            *GROUP_COLUMNS,
            "ci_low",
            "ci_high",
            "reference",
            "delta_vs_reference",
            "p_bootstrap",
            "significant",
            "note",
        ],
    )
    index = {(g.dataset, g.task, g.method): g for g in groups}
    compared = comparison_index(comparisons)
    for dataset, methods in methods_by_dataset(groups):
        for method in methods:
            present = [index[(dataset, t, method)] for t in tasks if (dataset, t, method) in index]
            family = present[0].family
            cells = [Cell(dataset), Cell(method), Cell(family), Cell(str(max(len(g.ok) for g in present)))]
            for task in tasks:
                group = index.get((dataset, task, method))
                comparison = compared.get((dataset, task, method))
                if group is None or not group.ok:
                    cells += [no_result(group), Cell("–")]
                else:
                    bounds = intervals.get((dataset, task, method))
                    cells.append(mean_std_cell(group.mean, group.std, dagger_for(comparison, settings)))
                    cells.append(Cell(interval(bounds.low, bounds.high) if bounds else "–"))
                if group is not None:
                    table.data_rows.append(
                        _main_data_row(group, comparison, intervals.get((dataset, task, method)), settings)
                    )
            table.add_row(cells, group=dataset)
    table.notes = status_notes(groups)
    return table


def _main_data_row(
    group: MethodCells, comparison: Comparison | None, bounds: Interval | None, settings: ReportSettings
) -> dict[str, Any]:
    boot = comparison.bootstrap if comparison else None
    significant = comparison.significant(settings.alpha) if comparison and not comparison.is_reference else None
    return {
        "dataset": group.dataset,
        "task": group.task,
        "method": group.method,
        "family": group.family,
        "status": group.status_text(),
        "cells": len(group.ok),
        "macro_f1_mean": group.mean,
        "macro_f1_std": group.std,
        "ci_low": bounds.low if bounds else None,
        "ci_high": bounds.high if bounds else None,
        "reference": comparison.reference if comparison else None,
        "delta_vs_reference": boot.delta if boot else None,
        "p_bootstrap": boot.p_value if boot else None,
        "significant": "" if significant is None else str(significant).lower(),
        "note": group.note(),
    }
