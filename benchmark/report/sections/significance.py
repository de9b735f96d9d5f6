"""The significance table: every method against its reference (paired bootstrap, McNemar, seeds)."""

from __future__ import annotations

from collections.abc import Sequence

from asebench.report.aggregate import ReportSettings, task_rank
from asebench.report.comparisons import Comparison
from asebench.report.sections.common import confidence_label, dagger_for, seed_test_name
from asebench.report.tables import DAGGER, Cell, Column, Table, interval, p_value


def significance_table(comparisons: Sequence[Comparison], settings: ReportSettings) -> Table:
    """Every method against its reference: paired bootstrap, McNemar and the per-seed test."""
    ci = confidence_label(settings)
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
            Column("p (bootstrap)", "r"),
            Column("McNemar +/−", "r"),
            Column("p (McNemar)", "r"),
            Column("p (seeds)", "r"),
        ],
        caption=(
            f"Δ = method − reference, mean over paired cells. Paired bootstrap over test samples ({settings.bootstrap_samples} "
            "resamples, same indices for both methods); McNemar on correctness (+: only the method is right, "
            f"−: only the reference; exact binomial below 25 discordant samples, else chi-square with continuity "
            f"correction); seeds: {seed_test_name(settings)} over per-seed macro-F1. {DAGGER}: not significant at "
            f"alpha = {settings.alpha:g} (paired bootstrap)."
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
            "mcnemar_method_only",
            "mcnemar_reference_only",
            "mcnemar_test",
            "p_mcnemar",
            "seed_test",
            "seed_n",
            "p_seeds",
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
                Cell(p_value(boot.p_value if boot else None)),
                Cell(f"{mc.a_only}/{mc.b_only}") if mc else Cell("–"),
                Cell(p_value(mc.p_value if mc else None)),
                Cell(p_value(seeds.p_value if seeds else None)),
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
                "mcnemar_method_only": mc.a_only if mc else None,
                "mcnemar_reference_only": mc.b_only if mc else None,
                "mcnemar_test": mc.test if mc else None,
                "p_mcnemar": mc.p_value if mc else None,
                "seed_test": seeds.test if seeds else None,
                "seed_n": seeds.n if seeds else None,
                "p_seeds": seeds.p_value if seeds else None,
                "significant": "" if significant is None else str(significant).lower(),
                "note": "; ".join([*c.notes, *([seeds.note] if seeds and seeds.note else [])]) or None,
            }
        )
    table.notes = sorted({f"{c.method} on {c.dataset} {c.task}: {n}" for c in comparisons for n in c.notes})
    return table


def _minus(text: str) -> str:
    """Typographic minus signs for display (CSV keeps plain numbers)."""
    return text.replace("-", "−")
