"""The report's tables, built from grouped records (see :mod:`asebench.report.aggregate`).

Each builder returns a :class:`~asebench.report.tables.Table` (or None when
there is nothing to show, e.g. no anomaly metrics) with display cells and the
raw numbers for CSV. Row order is canonical: dataset, task (binary first),
then method name; classes go by training frequency, most frequent first.
"""

from __future__ import annotations

import json
import statistics as pystats
from collections.abc import Sequence
from typing import Any

from asebench.report.aggregate import (
    Comparison,
    MethodCells,
    ReportSettings,
    bucket_scores,
    by_dataset_task,
    comparison_index,
    differing_options,
    per_class,
    task_rank,
    tasks_of,
    worst_classes,
)
from asebench.scoring.anomaly import METRIC_KEYS
from asebench.report.anomaly_table import METRIC_LABELS, RANDOM_WEIGHTS_NOTE
from asebench.report.tables import DAGGER, Cell, Column, Table, fmt, interval, mean_std_cell, p_value, shown
from asebench.api.records import CellRecord
from asebench.scoring.bootstrap import Interval
from asebench.scoring.statistics import SEED_TEST_NAMES

ANOMALY_KEYS = (*METRIC_KEYS, "pro")  # "pro": older records
ANOMALY_LABELS = {**METRIC_LABELS, "pro": "PRO"}


def confidence_label(settings: ReportSettings) -> str:
    return f"{settings.confidence * 100:g}% CI"


def _count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def dagger_for(comparison: Comparison | None, settings: ReportSettings) -> str:
    """† when the method is compared and its difference to the reference is not significant."""
    if comparison is None or comparison.is_reference:
        return ""
    return DAGGER if comparison.significant(settings.alpha) is False else ""


def _no_result(group: MethodCells | None) -> Cell:
    return Cell("–") if group is None else Cell(group.status_text())


def reference_caption(comparisons: Sequence[Comparison]) -> str:
    references = sorted({(c.dataset, c.task, c.reference) for c in comparisons})
    if not references:
        return ""
    return "Reference: " + "; ".join(f"{d} {t}: {m}" for d, t, m in references) + "."


def methods_by_dataset(groups: Sequence[MethodCells]) -> list[tuple[str, list[str]]]:
    """Datasets in name order, each with its method names in name order."""
    datasets = sorted({g.dataset for g in groups})
    return [(d, sorted({g.method for g in groups if g.dataset == d})) for d in datasets]


def status_notes(groups: Sequence[MethodCells]) -> list[str]:
    """One line per (dataset, method, note) for cells without a number."""
    seen: dict[tuple[str, str, str], str] = {}
    for group in groups:
        note = group.note()
        if note:
            seen.setdefault((group.dataset, group.method, note), group.status_text())
    return [f"{method} on {dataset} ({status}): {note}" for (dataset, method, note), status in sorted(seen.items())]


# -- main table ------------------------------------------------------------------------------


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
            f"different from the reference (paired bootstrap, alpha = {settings.alpha:g}). " + reference_caption(comparisons)
        ).strip(),
        data_columns=[
            "dataset", "task", "method", "family", "status", "cells", "macro_f1_mean", "macro_f1_std",
            "ci_low", "ci_high", "reference", "delta_vs_reference", "p_bootstrap", "significant", "note",
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
                    cells += [_no_result(group), Cell("–")]
                else:
                    bounds = intervals.get((dataset, task, method))
                    cells.append(mean_std_cell(group.mean, group.std, dagger_for(comparison, settings)))
                    cells.append(Cell(interval(bounds.low, bounds.high) if bounds else "–"))
                if group is not None:
                    table.data_rows.append(_main_data_row(group, comparison, intervals.get((dataset, task, method)), settings))
            table.add_row(cells, group=dataset)
    table.notes = status_notes(groups)
    return table


def _main_data_row(group: MethodCells, comparison: Comparison | None, bounds: Interval | None, settings: ReportSettings) -> dict[str, Any]:
    boot = comparison.bootstrap if comparison else None
    significant = comparison.significant(settings.alpha) if comparison and not comparison.is_reference else None
    return {
        "dataset": group.dataset, "task": group.task, "method": group.method, "family": group.family,
        "status": group.status_text(), "cells": len(group.ok), "macro_f1_mean": group.mean, "macro_f1_std": group.std,
        "ci_low": bounds.low if bounds else None, "ci_high": bounds.high if bounds else None,
        "reference": comparison.reference if comparison else None,
        "delta_vs_reference": boot.delta if boot else None, "p_bootstrap": boot.p_value if boot else None,
        "significant": "" if significant is None else str(significant).lower(), "note": group.note(),
    }


# -- significance ----------------------------------------------------------------------------


def significance_table(comparisons: Sequence[Comparison], settings: ReportSettings) -> Table:
    """Every method against its reference: paired bootstrap, McNemar and the per-seed test."""
    ci = confidence_label(settings)
    table = Table(
        key="significance",
        title="Significance against the reference",
        columns=[
            Column("dataset"), Column("task"), Column("method"), Column("reference"), Column("paired cells", "r"),
            Column("Δ macro-F1", "r"), Column(f"{ci} of Δ", "r"), Column("p (bootstrap)", "r"),
            Column("McNemar +/−", "r"), Column("p (McNemar)", "r"), Column("p (seeds)", "r"),
        ],
        caption=(
            f"Δ = method − reference, mean over paired cells. Paired bootstrap over test samples ({settings.bootstrap_samples} "
            "resamples, same indices for both methods); McNemar on correctness (+: only the method is right, "
            f"−: only the reference; exact binomial below 25 discordant samples, else chi-square with continuity "
            f"correction); seeds: {_seed_test_name(settings)} over per-seed macro-F1. {DAGGER}: not significant at "
            f"alpha = {settings.alpha:g} (paired bootstrap)."
        ),
        data_columns=[
            "dataset", "task", "method", "reference", "paired_cells", "delta", "delta_low", "delta_high", "p_bootstrap",
            "mcnemar_method_only", "mcnemar_reference_only", "mcnemar_test", "p_mcnemar", "seed_test", "seed_n",
            "p_seeds", "significant", "note",
        ],
    )
    for c in sorted(comparisons, key=lambda c: (c.dataset, task_rank(c.task), c.method)):
        if c.is_reference:
            table.add_row(
                [Cell(c.dataset), Cell(c.task), Cell(c.method), Cell("(reference)"), Cell(str(c.pairs))] + [Cell("–")] * 6,
                group=f"{c.dataset}/{c.task}",
            )
            table.data_rows.append({"dataset": c.dataset, "task": c.task, "method": c.method, "reference": c.reference,
                                    "paired_cells": c.pairs, "note": "; ".join(c.notes) or "reference"})
            continue
        boot, mc, seeds = c.bootstrap, c.mcnemar, c.seeds
        mark = dagger_for(c, settings)
        table.add_row(
            [
                Cell(c.dataset), Cell(c.task), Cell(c.method), Cell(c.reference), Cell(str(c.pairs)),
                Cell(_minus(f"{boot.delta:+.3f}"), mark=mark) if boot else Cell("n/a"),
                Cell(_minus(interval(boot.low, boot.high))) if boot else Cell("–"),
                Cell(p_value(boot.p_value if boot else None)),
                Cell(f"{mc.a_only}/{mc.b_only}") if mc else Cell("–"),
                Cell(p_value(mc.p_value if mc else None)),
                Cell(p_value(seeds.p_value if seeds else None)),
            ],
            group=f"{c.dataset}/{c.task}",
        )
        significant = c.significant(settings.alpha)
        table.data_rows.append({
            "dataset": c.dataset, "task": c.task, "method": c.method, "reference": c.reference, "paired_cells": c.pairs,
            "delta": boot.delta if boot else None, "delta_low": boot.low if boot else None,
            "delta_high": boot.high if boot else None, "p_bootstrap": boot.p_value if boot else None,
            "mcnemar_method_only": mc.a_only if mc else None, "mcnemar_reference_only": mc.b_only if mc else None,
            "mcnemar_test": mc.test if mc else None, "p_mcnemar": mc.p_value if mc else None,
            "seed_test": seeds.test if seeds else None, "seed_n": seeds.n if seeds else None,
            "p_seeds": seeds.p_value if seeds else None,
            "significant": "" if significant is None else str(significant).lower(),
            "note": "; ".join([*c.notes, *([seeds.note] if seeds and seeds.note else [])]) or None,
        })
    table.notes = sorted({f"{c.method} on {c.dataset} {c.task}: {n}" for c in comparisons for n in c.notes})
    return table


def _minus(text: str) -> str:
    """Typographic minus signs for display (CSV keeps plain numbers)."""
    return text.replace("-", "−")


def _seed_test_name(settings: ReportSettings) -> str:
    return SEED_TEST_NAMES[settings.seed_test]


# -- per class -------------------------------------------------------------------------------


def per_class_table(groups: Sequence[MethodCells]) -> Table:
    """Precision/recall/F1/support per class and method, classes by training frequency (descending)."""
    table = Table(
        key="per_class",
        title="Per-class precision, recall and F1",
        columns=[
            Column("dataset"), Column("task"), Column("class"), Column("bucket"), Column("train", "r"), Column("method"),
            Column("precision", "r", "max"), Column("recall", "r", "max"), Column("F1", "r", "max"), Column("support", "r"),
        ],
        caption=(
            "Means over seeds/folds; train and support are per-cell counts (mean). Classes ordered by training "
            "frequency, most frequent first. Best method per class in bold, second underlined."
        ),
        data_columns=[
            "dataset", "task", "class", "bucket", "train_count", "method", "precision", "recall", "f1", "f1_std", "support",
        ],
    )
    for (dataset, task), members in sorted(by_dataset_task(groups).items(), key=lambda kv: (kv[0][0], task_rank(kv[0][1]))):
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
                        Cell(dataset), Cell(task), Cell(name), Cell(row.bucket), Cell(_count(row.train_count)), Cell(group.method),
                        Cell(fmt(row.precision), shown(row.precision)), Cell(fmt(row.recall), shown(row.recall)),
                        Cell(fmt(row.f1), shown(row.f1)), Cell(_count(row.support)),
                    ],
                    group=f"{dataset}/{task}/{name}",
                )
                table.data_rows.append({
                    "dataset": dataset, "task": task, "class": name, "bucket": row.bucket, "train_count": row.train_count,
                    "method": group.method, "precision": row.precision, "recall": row.recall, "f1": row.f1,
                    "f1_std": row.f1_std, "support": row.support,
                })
    return table


# -- tail ------------------------------------------------------------------------------------


def tail_table(groups: Sequence[MethodCells]) -> Table:
    """Head/medium/tail macro-F1 and the worst classes with their most confused partner."""
    table = Table(
        key="tail",
        title="Head, medium and tail classes",
        columns=[
            Column("dataset"), Column("task"), Column("method"),
            Column("head F1", "r", "max"), Column("medium F1", "r", "max"), Column("tail F1", "r", "max"),
            Column("worst classes (F1 → most confused with)", latex_width="6.5cm"),
        ],
        data_columns=[
            "dataset", "task", "method", "head_f1_mean", "head_f1_std", "medium_f1_mean", "medium_f1_std",
            "tail_f1_mean", "tail_f1_std", "worst_classes",
        ],
    )
    notes = []
    thresholds: dict[str, Any] | None = None
    for (dataset, task), members in sorted(by_dataset_task(groups).items(), key=lambda kv: (kv[0][0], task_rank(kv[0][1]))):
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
            worst_text = "; ".join(
                f"{w.name} {w.f1:.2f}" + (f" → {w.partner}" if w.partner else "") for w in worst
            )
            cells = [Cell(dataset), Cell(task), Cell(group.method)]
            data: dict[str, Any] = {"dataset": dataset, "task": task, "method": group.method, "worst_classes": worst_text}
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


# -- anomaly ---------------------------------------------------------------------------------


def _anomaly_keys(records: Sequence[CellRecord]) -> list[str]:
    """Numeric anomaly metrics present in any record: known ones first, then the rest by name.

    Operating points (``*_threshold``) and non-numeric entries (``notes``) are not metrics.
    """
    keys: set[str] = set()
    for record in records:
        for key, value in (record.get("anomaly_metrics") or {}).items():  # type: ignore[attr-defined]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.endswith("_threshold"):
                keys.add(key)
    return [k for k in ANOMALY_KEYS if k in keys] + sorted(keys - set(ANOMALY_KEYS))


def anomaly_table(groups: Sequence[MethodCells]) -> Table | None:
    """Whatever anomaly metrics records carry (``record["anomaly_metrics"]``); None when none do."""
    carrying = [r for g in groups for r in g.ok if r.get("anomaly_metrics")]
    ordered = _anomaly_keys(carrying)
    if not ordered:
        return None
    table = Table(
        key="anomaly",
        title="Anomaly detection metrics",
        columns=[Column("dataset"), Column("task"), Column("method"), Column("cells", "r")]
        + [Column(ANOMALY_LABELS.get(k, k), "r", "max" if k in ANOMALY_KEYS else None) for k in ordered],
        caption=(
            "Mean ± std over the seeds/folds that report each metric (fractions in [0, 1]); I- image level, "
            "P- pixel level, F1max: best F1 over thresholds, PRO: per-region overlap. Best per dataset in bold, "
            "second underlined."
        ),
        data_columns=["dataset", "task", "method", "cells"] + [f"{k}_{s}" for k in ordered for s in ("mean", "std")] + ["weights"],
    )
    notes: list[str] = []
    for group in sorted(groups, key=lambda g: (g.dataset, task_rank(g.task), g.method)):
        records = [r for r in group.ok if r.get("anomaly_metrics")]
        if not records:
            continue
        weights = sorted({str((r["method"].get("provenance") or {}).get("weights", "")) for r in records} - {""})
        cells = [Cell(group.dataset), Cell(group.task), Cell(group.method), Cell(str(len(records)))]
        data: dict[str, Any] = {"dataset": group.dataset, "task": group.task, "method": group.method,
                                "cells": len(records), "weights": ", ".join(weights) or None}
        for key in ordered:
            values = [r["anomaly_metrics"].get(key) for r in records]  # type: ignore[typeddict-item]
            present = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            mean = pystats.fmean(present) if present else None
            std = (pystats.stdev(present) if len(present) > 1 else 0.0) if present else None
            cells.append(mean_std_cell(mean, std) if present else Cell("–"))
            data[f"{key}_mean"], data[f"{key}_std"] = mean, std
        table.add_row(cells, group=group.dataset)
        table.data_rows.append(data)
        if any(r["method"].get("placeholder_weights") for r in records):
            notes.append(f"{group.method} on {group.dataset} {group.task}: {RANDOM_WEIGHTS_NOTE}")
        for record in records:
            for note in record["anomaly_metrics"].get("notes") or []:  # type: ignore[typeddict-item]
                text = f"{group.method} on {group.dataset} {group.task}: {note}"
                if text not in notes:
                    notes.append(text)
    table.notes = notes
    return table


# -- ablation --------------------------------------------------------------------------------


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
    columns = [Column("dataset"), Column("variant")] + option_columns + [Column(f"{t} macro-F1", "r", "max") for t in tasks]
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
        data_columns=["dataset", "variant", "task", "options", "cells", "macro_f1_mean", "macro_f1_std", "tail_f1_mean"],
    )
    for (dataset, method) in sorted(variants):
        by_task = variants[(dataset, method)]
        options = option_sets[(dataset, method)]
        cells = [Cell(dataset), Cell(method)]
        cells += [Cell(option_text(options[k]) if k in options else "–") for k in keys] or [Cell("(single variant)")]
        for task in tasks:
            group = by_task.get(task)
            cells.append(mean_std_cell(group.mean, group.std) if group and group.ok else _no_result(group))
            if group is not None:
                tail = bucket_scores(group).get("tail") if group.ok else None
                table.data_rows.append({
                    "dataset": dataset, "variant": method, "task": task, "options": json.dumps(options, sort_keys=True),
                    "cells": len(group.ok), "macro_f1_mean": group.mean, "macro_f1_std": group.std,
                    "tail_f1_mean": tail[0] if tail else None,
                })
        if "multiclass" in tasks:
            multi = by_task.get("multiclass")
            tail = bucket_scores(multi).get("tail") if multi and multi.ok else None
            cells.append(mean_std_cell(*tail) if tail else Cell("–"))
        table.add_row(cells, group=dataset)
    table.notes = status_notes(paper)
    return table


# -- method ----------------------------------------------------------------------------------


def method_paragraphs(settings: ReportSettings) -> list[str]:
    """How every number of the report was computed (shown in the HTML and Markdown reports)."""
    seed_test = _seed_test_name(settings)
    return [
        "All numbers are recomputed from the stored per-cell records (predictions with sample ids, per-class "
        "scores, confusion matrices); no model is run. Macro-F1 averages F1 over the task's full class list "
        "(scikit-learn, zero_division=0), so a class that is never predicted counts as 0.",
        "Mean ± std: over the seeds/folds of a method (sample standard deviation; 0 for a single cell). "
        f"{confidence_label(settings)}: percentile bootstrap over test samples with {settings.bootstrap_samples} "
        f"resamples (numpy default_rng, seed {settings.bootstrap_seed}); in each resample every seed's test set is "
        "drawn with replacement independently and the statistic is the mean macro-F1 over seeds, so the interval "
        "describes the reported mean. It covers test-set sampling only, not seed-to-seed variation.",
        "Reference: per dataset and task, the method given with --reference, otherwise the method with the best "
        "mean macro-F1 (ties: first by name). Every other method is compared with it on the same test samples: "
        "cells are paired only when dataset fingerprint, split digest, seed and fold are equal, and predictions are "
        "aligned by sample id.",
        f"Paired bootstrap: {settings.bootstrap_samples} resamples of the test indices, the same indices for both "
        "methods, statistic = mean over paired cells of macro-F1(method) − macro-F1(reference). Two-sided p-value "
        "= 2·min(P(Δ* ≤ 0), P(Δ* ≥ 0)) with a +1 correction, capped at 1. This p-value decides the † marks: a "
        f"method marked † is not significantly different from the reference at alpha = {settings.alpha:g} "
        "(no correction for multiple comparisons).",
        "McNemar's test compares correctness on the paired samples (discordant counts summed over paired cells): "
        "exact two-sided binomial test when fewer than 25 samples are discordant, otherwise chi-square with "
        "continuity correction (scipy.stats). It tests accuracy, not macro-F1, so it can disagree with the bootstrap "
        "on imbalanced data.",
        f"Across seeds: {seed_test} over the per-seed macro-F1 of the paired cells; n/a with fewer than 2 seeds or "
        "when the differences are constant. With few seeds it has little power; it complements the test-sample "
        "bootstrap, which ignores training randomness. The corrected resampled t-test (the default) scales the "
        "variance of the mean difference by (1/n + n_test/n_train) instead of 1/n, because seeds draw overlapping "
        "splits of one dataset and their scores are not independent (Nadeau and Bengio 2003); the plain paired "
        "t-test (--seed-test ttest) overstates significance in that setting.",
        "Tail analysis: classes are bucketed by training count relative to the largest class (thresholds stored "
        "in each record); bucket F1 is the macro-F1 over the bucket's classes. Per-class tables and figures list "
        "classes by training frequency, most frequent first. Confusion matrices are summed over seeds and "
        "normalised per true class.",
    ]
