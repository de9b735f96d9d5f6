"""What several report tables share: labels, the † mark, status notes, method order."""

from __future__ import annotations

from collections.abc import Sequence

from asebench.report.aggregate import MethodCells, ReportSettings, tail_f1
from asebench.report.comparisons import Comparison
from asebench.report.tables import DAGGER, Cell, mean_std_cell
from asebench.scoring.statistics import SEED_TEST_NAMES


def confidence_label(settings: ReportSettings) -> str:
    return f"{settings.confidence * 100:g}% CI"


def count_text(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def dagger_for(comparison: Comparison | None, settings: ReportSettings) -> str:
    """† when the method is compared and its difference to the reference is not significant."""
    if comparison is None or comparison.is_reference:
        return ""
    return DAGGER if comparison.significant(settings.alpha) is False else ""


def no_result(group: MethodCells | None) -> Cell:
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


def seed_test_name(settings: ReportSettings) -> str:
    """The readable name of the report's test across seeds."""
    return SEED_TEST_NAMES[settings.seed_test]


def tail_cell(group: MethodCells | None) -> Cell:
    """The multiclass tail-F1 cell of a method's row (mean ± std), or a dash without one."""
    tail = tail_f1(group)
    return mean_std_cell(*tail) if tail else Cell("–")
