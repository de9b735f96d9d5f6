"""The significance tables: every method against its reference, every anomaly method against the reference detector.

Classifiers: paired bootstrap, McNemar and the seed test on macro-F1; anomaly methods: DeLong's paired
test of image AUROC. Every p-value shown is Holm-corrected over its table; the CSV keeps the raw ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from asebench.report.aggregate import ReportSettings, task_rank
from asebench.report.comparisons import AnomalyComparison, Comparison
from asebench.report.sections.common import confidence_label, dagger_for, seed_test_name
from asebench.report.tables import DAGGER, Cell, Column, Table, interval, p_value


def significance_table(comparisons: Sequence[Comparison], settings: ReportSettings) -> Table:
    """Every method against its reference: paired bootstrap, McNemar and the per-seed test."""
    ci = confidence_label(settings)
    tested = sum(1 for c in comparisons if c.bootstrap is not None)
    family = f"{tested} comparison{'s' if tested != 1 else ''}"
    table = Table(
        key="significance",
        title="Significance against the reference",
        columns=[
            Column("dataset"),
            Column("task"),
            Column("method"),
            Column("reference"),
            Column("paired cells", "r"),
            Column("Δ macro-F1", "r"),
            Column(f"{ci} of Δ", "r"),
            Column("p (bootstrap, Holm)", "r"),
            Column("McNemar +/−", "r"),
            Column("p (McNemar, Holm)", "r"),
            Column("p (seeds, Holm)", "r"),
        ],
        caption=(
            f"Δ = method − reference, mean over paired cells. Paired bootstrap over test samples ({settings.bootstrap_samples} "
            "resamples, same indices for both methods); McNemar on correctness (+: only the method is right, "
            f"−: only the reference; exact binomial below 25 discordant samples, else chi-square with continuity "
            f"correction); seeds: {seed_test_name(settings)} over per-seed macro-F1. p-values are Holm-corrected "
            f"(step-down, Holm 1979); the family is every method-vs-reference comparison in this table, all "
            f"datasets and tasks together ({family} with a bootstrap p-value), one family per test; the CSV keeps the raw p-values "
            f"beside them. {DAGGER}: not significant at alpha = {settings.alpha:g} (paired bootstrap, Holm-corrected)."
        ),
        data_columns=[
            "dataset",
            "task",
            "method",
            "reference",
            "paired_cells",
            "delta",
            "delta_low",
            "delta_high",
            "p_bootstrap",
            "p_bootstrap_holm",
            "mcnemar_method_only",
            "mcnemar_reference_only",
            "mcnemar_test",
            "p_mcnemar",
            "p_mcnemar_holm",
            "seed_test",
            "seed_n",
            "p_seeds",
            "p_seeds_holm",
            "significant",
            "note",
        ],
    )
    for c in sorted(comparisons, key=lambda c: (c.dataset, task_rank(c.task), c.method)):
        identity = {
            "dataset": c.dataset,
            "task": c.task,
            "method": c.method,
            "reference": c.reference,
            "paired_cells": c.pairs,
        }
        if c.is_reference:
            table.add_row(
                [Cell(c.dataset), Cell(c.task), Cell(c.method), Cell("(reference)"), Cell(str(c.pairs))]
                + [Cell("–")] * 6,
                group=f"{c.dataset}/{c.task}",
            )
            table.data_rows.append({**identity, "note": "; ".join(c.notes) or "reference"})
            continue
        boot, mc, seeds = c.bootstrap, c.mcnemar, c.seeds
        mark = dagger_for(c, settings)
        table.add_row(
            [
                Cell(c.dataset),
                Cell(c.task),
                Cell(c.method),
                Cell(c.reference),
                Cell(str(c.pairs)),
                Cell(_minus(f"{boot.delta:+.3f}"), mark=mark) if boot else Cell("n/a"),
                Cell(_minus(interval(boot.low, boot.high))) if boot else Cell("–"),
                Cell(p_value(c.p_bootstrap_holm)),
                Cell(f"{mc.a_only}/{mc.b_only}") if mc else Cell("–"),
                Cell(p_value(c.p_mcnemar_holm)),
                Cell(p_value(c.p_seeds_holm)),
            ],
            group=f"{c.dataset}/{c.task}",
        )
        significant = c.significant(settings.alpha)
        table.data_rows.append(
            {
                **identity,
                "delta": boot.delta if boot else None,
                "delta_low": boot.low if boot else None,
                "delta_high": boot.high if boot else None,
                "p_bootstrap": boot.p_value if boot else None,
                "p_bootstrap_holm": c.p_bootstrap_holm,
                "mcnemar_method_only": mc.a_only if mc else None,
                "mcnemar_reference_only": mc.b_only if mc else None,
                "mcnemar_test": mc.test if mc else None,
                "p_mcnemar": mc.p_value if mc else None,
                "p_mcnemar_holm": c.p_mcnemar_holm,
                "seed_test": seeds.test if seeds else None,
                "seed_n": seeds.n if seeds else None,
                "p_seeds": seeds.p_value if seeds else None,
                "p_seeds_holm": c.p_seeds_holm,
                "significant": "" if significant is None else str(significant).lower(),
                "note": "; ".join([*c.notes, *([seeds.note] if seeds and seeds.note else [])]) or None,
            }
        )
    table.notes = sorted({f"{c.method} on {c.dataset} {c.task}: {n}" for c in comparisons for n in c.notes})
    return table


def _minus(text: str) -> str:
    """Typographic minus signs for display (CSV keeps plain numbers)."""
    return text.replace("-", "−")


def anomaly_significance_table(comparisons: Sequence[AnomalyComparison], settings: ReportSettings) -> Table | None:
    """Image AUROC of every anomaly method against the reference anomaly method: DeLong's paired test, Holm-corrected."""
    if not comparisons:
        return None
    tested = sum(1 for c in comparisons if c.test is not None and c.test.p_value is not None)
    table = Table(
        key="anomaly_significance",
        title="Image AUROC against the reference anomaly method (DeLong)",
        columns=[
            Column("dataset"),
            Column("task"),
            Column("protocol"),
            Column("method"),
            Column("reference"),
            Column("paired cells", "r"),
            Column("I-AUROC", "r"),
            Column("Δ I-AUROC", "r"),
            Column("p (DeLong, Holm)", "r"),
        ],
        caption=(
            "DeLong's paired test (DeLong et al. 1988; fast midrank form of Sun and Xu 2014) of image AUROC on the "
            "same test images, from the stored per-image anomaly scores. I-AUROC: the method's mean over the paired "
            "cells; Δ = method − reference. Several cells (seeds, folds, categories) are combined as the mean Δ: with "
            "disjoint test sets (folds, categories) its variance is the sum of the cells' DeLong variances over c², "
            "otherwise (overlapping seeds) the conservative bound (mean of the cells' standard deviations)². "
            f"p-values are Holm-corrected over every comparison in this table ({tested}); the CSV keeps the raw ones. "
            f"{DAGGER}: not significant at alpha = {settings.alpha:g}. Reference: --reference when it has anomaly "
            "scores, else the best mean image AUROC."
        ),
        data_columns=[
            "dataset",
            "task",
            "protocol",
            "method",
            "reference",
            "paired_cells",
            "image_auroc",
            "image_auroc_reference",
            "delta",
            "z",
            "p_delong",
            "p_delong_holm",
            "combination",
            "significant",
            "note",
        ],
    )
    for c in comparisons:
        identity = {
            "dataset": c.dataset,
            "task": c.task,
            "protocol": c.protocol,
            "method": c.method,
            "reference": c.reference,
            "paired_cells": c.pairs,
        }
        head = [Cell(c.dataset), Cell(c.task), Cell(c.protocol), Cell(c.method)]
        group = f"{c.dataset}/{c.task}/{c.protocol}"
        note = "; ".join(c.notes) or None
        if c.is_reference or c.test is None:
            reference = "(reference)" if c.is_reference else c.reference
            table.add_row([*head, Cell(reference), Cell(str(c.pairs)), Cell("–"), Cell("n/a"), Cell("n/a")], group)
            table.data_rows.append({**identity, "note": note or ("reference" if c.is_reference else None)})
            continue
        t = c.test
        significant = None if c.p_holm is None else c.p_holm < settings.alpha
        table.add_row(
            [
                *head,
                Cell(c.reference),
                Cell(str(c.pairs)),
                Cell(f"{t.auc_a:.3f}"),
                Cell(_minus(f"{t.delta:+.3f}"), mark=DAGGER if significant is False else ""),
                Cell(p_value(c.p_holm)),
            ],
            group,
        )
        table.data_rows.append(
            {
                **identity,
                "image_auroc": t.auc_a,
                "image_auroc_reference": t.auc_b,
                "delta": t.delta,
                "z": t.z,
                "p_delong": t.p_value,
                "p_delong_holm": c.p_holm,
                "combination": t.combination,
                "significant": "" if significant is None else str(significant).lower(),
                "note": note,
            }
        )
    table.notes = sorted(
        {f"{c.method} on {c.dataset} {c.task} ({c.protocol}): {n}" for c in comparisons for n in c.notes}
    )
    return table
