"""Paper-style tables regenerated from a named reference run under ``results/<name>/``.

The tables a paper prints: methods grouped Baselines / Few-shot / Zero-shot /
Ours with binary and multiclass macro-F1 (mean ± std, † when not significantly
different from the best), multiclass F1 per class in training-frequency order,
and the ablation of the paper model (``Method.proposed``). They are written
to ``results/<name>/tables/`` as Markdown, CSV and LaTeX.

Output is a pure function of the stored records (fixed formatting, sorted
order, seeded bootstrap, no paths or timestamps), so a test can regenerate
the committed files and compare them byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from asebench.api.errors import ResultsError
from asebench.api.records import CellRecord
from asebench.report.aggregate import (
    MethodCells,
    ReportSettings,
    group_records,
    per_class,
    tail_f1,
    tasks_of,
)
from asebench.report.comparisons import compare, comparison_index
from asebench.report.sections.ablation import ablation_table
from asebench.report.sections.common import dagger_for, methods_by_dataset, tail_cell
from asebench.report.tables import (
    DAGGER,
    Cell,
    Column,
    Table,
    fmt,
    mean_std_cell,
    shown,
    table_csv,
    to_latex,
    to_markdown,
)
from asebench.store.atomic import atomic_write_text
from asebench.store.run_directory import RunDirectory, merge_records

DEFAULT_NAME = "ase-synth-reference"
CATEGORIES = ("Baselines", "Few-shot", "Zero-shot", "Ours")
PAPER_TABLE_KEYS = ("main", "per_class_f1", "ablation")
PAPER_FORMATS = ("md", "csv", "tex")


def default_results_root() -> Path:
    """``./results`` when it exists, else the ``results/`` folder of the source checkout."""
    local = Path("results")
    return local if local.is_dir() else Path(__file__).resolve().parents[1] / "results"


def category(group: MethodCells) -> str:
    """Where a method goes in a paper table, from what it declares (``proposed``, capabilities)."""
    if group.proposed:
        return "Ours"
    if "zero-shot" in group.capabilities:
        return "Zero-shot"
    if "episodic" in group.capabilities:
        return "Few-shot"
    return "Baselines"


def _ordered_methods(groups: Sequence[MethodCells], dataset: str) -> list[tuple[str, list[list[MethodCells]]]]:
    """Rows of one dataset by category (in :data:`CATEGORIES` order), then family and name.

    Each row is the list of one method's groups (one per task).
    """
    by_method: dict[str, list[MethodCells]] = {}
    for group in groups:
        if group.dataset == dataset:
            by_method.setdefault(group.method, []).append(group)
    rows = sorted(by_method.values(), key=lambda gs: (CATEGORIES.index(category(gs[0])), gs[0].family, gs[0].method))
    out: list[tuple[str, list[list[MethodCells]]]] = []
    for members in rows:
        name = category(members[0])
        if not out or out[-1][0] != name:
            out.append((name, []))
        out[-1][1].append(members)
    return out


def paper_main_table(groups: Sequence[MethodCells], settings: ReportSettings) -> Table:
    """Methods grouped by category: binary and multiclass macro-F1 and multiclass tail-F1."""
    comparisons = comparison_index(compare(groups, settings))
    tasks = tasks_of(groups)
    datasets = [d for d, _ in methods_by_dataset(groups)]
    many = len(datasets) > 1
    columns = ([Column("dataset")] if many else []) + [Column("method"), Column("family")]
    columns += [Column(f"{t} macro-F1", "r", "max") for t in tasks]
    if "multiclass" in tasks:
        columns.append(Column("multiclass tail-F1", "r", "max"))
    table = Table(
        key="main",
        title="Macro-F1 on " + ", ".join(datasets),
        columns=columns,
        caption=(
            "Mean ± std over seeds; best per column in bold, second underlined. "
            f"{DAGGER}: not significantly different from the best method (paired bootstrap over test samples, "
            f"Holm-corrected over the table's comparisons, alpha = {settings.alpha:g})."
        ),
        data_columns=[
            "dataset",
            "category",
            "method",
            "family",
            "task",
            "cells",
            "macro_f1_mean",
            "macro_f1_std",
            "p_vs_best",
            "tail_f1_mean",
        ],
    )
    for dataset in datasets:
        for name, rows in _ordered_methods(groups, dataset):
            table.section(f"{dataset}: {name}" if many else name)
            for members in rows:
                by_task = {g.task: g for g in members}
                first = members[0]
                cells = ([Cell(dataset)] if many else []) + [Cell(first.method), Cell(first.family)]
                for task in tasks:
                    group = by_task.get(task)
                    comparison = comparisons.get((dataset, task, first.method))
                    if group is None or not group.ok:
                        cells.append(Cell("–" if group is None else group.status_text()))
                    else:
                        cells.append(mean_std_cell(group.mean, group.std, dagger_for(comparison, settings)))
                    if group is not None:
                        boot = comparison.bootstrap if comparison else None
                        tail = tail_f1(group)
                        table.data_rows.append(
                            {
                                "dataset": dataset,
                                "category": name,
                                "method": first.method,
                                "family": first.family,
                                "task": task,
                                "cells": len(group.ok),
                                "macro_f1_mean": group.mean,
                                "macro_f1_std": group.std,
                                "p_vs_best": boot.p_value if boot else None,
                                "tail_f1_mean": tail[0] if tail else None,
                            }
                        )
                if "multiclass" in tasks:
                    cells.append(tail_cell(by_task.get("multiclass")))
                table.add_row(cells, group=dataset)
    return table


def paper_per_class_table(groups: Sequence[MethodCells]) -> Table | None:
    """Multiclass F1 per class (columns in training-frequency order) for every method."""
    multi = [g for g in groups if g.task == "multiclass"]
    scored = [g for g in multi if g.ok]
    if not scored:
        return None
    datasets = sorted({g.dataset for g in scored})
    if len(datasets) > 1:
        order_by = {d: per_class(next(g for g in scored if g.dataset == d)) for d in datasets}
        names = list(dict.fromkeys(row.name for d in datasets for row in order_by[d]))
        counts = {row.name: row.train_count for rows in order_by.values() for row in rows}
    else:
        rows = per_class(min((g for g in scored), key=lambda g: g.method))
        names = [row.name for row in rows]
        counts = {row.name: row.train_count for row in rows}
    many = len(datasets) > 1
    columns = ([Column("dataset")] if many else []) + [Column("method")]
    columns += [Column(f"{n} ({counts[n]:.0f})", "r", "max") for n in names] + [Column("macro-F1", "r", "max")]
    table = Table(
        key="per_class_f1",
        title="Multiclass F1 per class",
        columns=columns,
        caption="Mean F1 over seeds; classes by training frequency (training count per seed in brackets), most frequent first. Best per column in bold, second underlined.",
        data_columns=["dataset", "method", "class", "train_count", "f1_mean", "f1_std"],
    )
    for dataset in datasets:
        for name, rows_ in _ordered_methods(multi, dataset):
            table.section(f"{dataset}: {name}" if many else name)
            for members in rows_:
                group = members[0]
                scores = {row.name: row for row in per_class(group)}
                cells = ([Cell(dataset)] if many else []) + [Cell(group.method)]
                for n in names:
                    row = scores.get(n)
                    cells.append(Cell(fmt(row.f1), shown(row.f1)) if row else Cell("–"))
                    if row:
                        table.data_rows.append(
                            {
                                "dataset": dataset,
                                "method": group.method,
                                "class": n,
                                "train_count": row.train_count,
                                "f1_mean": row.f1,
                                "f1_std": row.f1_std,
                            }
                        )
                cells.append(mean_std_cell(group.mean, group.std) if group.ok else Cell(group.status_text()))
                table.add_row(cells, group=dataset)
    return table


def paper_tables(records: Sequence[CellRecord], settings: ReportSettings | None = None) -> list[Table]:
    """Every paper table the records support (the ablation only when a proposed method has records)."""
    settings = settings or ReportSettings()
    groups = group_records(records)
    if not groups:
        raise ResultsError("no cell records to build paper tables from")
    tables = [paper_main_table(groups, settings)]
    tables += [t for t in (paper_per_class_table(groups), ablation_table(groups)) if t is not None]
    return tables


def render(table: Table, fmt_name: str) -> str:
    if fmt_name == "md":
        return to_markdown(table)
    if fmt_name == "csv":
        return table_csv(table)
    return to_latex(table, label_prefix="tab:paper-")


def write_paper_tables(run_dir: Path, out: Path | None = None, settings: ReportSettings | None = None) -> list[Path]:
    """Regenerate the paper tables of ``run_dir`` into ``out`` (default ``run_dir/tables``)."""
    records = merge_records([run_dir])
    tables = paper_tables(records, settings)
    folder = Path(out) if out is not None else Path(run_dir) / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    for key in PAPER_TABLE_KEYS:
        for fmt_name in PAPER_FORMATS:
            (folder / f"{key}.{fmt_name}").unlink(missing_ok=True)
    written = []
    for table in tables:
        for fmt_name in PAPER_FORMATS:
            path = folder / f"{table.key}.{fmt_name}"
            atomic_write_text(path, render(table, fmt_name))
            written.append(path)
    return written


def reference_run(name: str = DEFAULT_NAME, results_root: Path | None = None) -> Path:
    """The run directory of a named reference run, checked to hold records."""
    path = (results_root or default_results_root()) / name
    if not (path / "cells").is_dir():
        raise ResultsError(f"no reference run {name!r}: {path}/cells does not exist")
    RunDirectory(path).records()  # fail early on unreadable records
    return path


def compare_tables(expected_dir: Path, actual_dir: Path) -> list[str]:
    """Names of table files that differ between two folders (missing on either side counts)."""
    names = sorted(
        {p.name for p in Path(expected_dir).glob("*") if p.suffix[1:] in PAPER_FORMATS}
        | {p.name for p in Path(actual_dir).glob("*") if p.suffix[1:] in PAPER_FORMATS}
    )
    return [
        n
        for n in names
        if not (
            (expected_dir / n).is_file()
            and (actual_dir / n).is_file()
            and (expected_dir / n).read_bytes() == (actual_dir / n).read_bytes()
        )
    ]
