"""``asebench compare A B``: whether run B reproduced run A, cell by cell.

For checking a grid run with another executor (``--executor ray`` against
``local``), on another machine or after an upgrade. Reads the stored records
only; exits 1 when a cell is missing on one side, a field differs beyond
``--tolerance`` or the summary tables differ. Environment differences (per
differing cell, and between the runs) are printed as explanations, never as
failures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from asebench.cli.console import console
from asebench.report.run_comparison import EnvironmentChange, RunComparison, compare_runs

SHOWN = 30
SHOWN_ENVIRONMENT = 6


def _print_differences(comparison: RunComparison) -> None:
    table = Table("cell", "field", "first", "second", title="differences")
    for difference in comparison.differences[:SHOWN]:
        table.add_row(
            escape(difference.cell), escape(difference.field), escape(difference.first), escape(difference.second)
        )
    console.print(table)
    if len(comparison.differences) > SHOWN:
        console.print(f"... and {len(comparison.differences) - SHOWN} more")


# the likeliest explanations first: torch's own settings, the CPU, thread variables, code; libraries last
EXPLANATION_ORDER = (
    "config_hash",
    "method",
    "dataset",
    "torch",
    "cpu",
    "env_vars",
    "git",
    "packages",
    "device",
    "threadpools",
)


def _explanation_rank(change: EnvironmentChange) -> int:
    section = change.path.split(".")[0].split("[")[0]
    return EXPLANATION_ORDER.index(section) if section in EXPLANATION_ORDER else len(EXPLANATION_ORDER) - 1


def _changes_text(changes: list[EnvironmentChange]) -> str:
    changes = sorted(changes, key=_explanation_rank)  # stable: the order within a section is kept
    shown = "; ".join(str(change) for change in changes[:SHOWN_ENVIRONMENT])
    more = len(changes) - SHOWN_ENVIRONMENT
    return shown + (f"; ... and {more} more" if more > 0 else "")


def _print_cell_environments(comparison: RunComparison) -> None:
    """Next to the cells that differ: the environment keys whose values differ between their two records.

    Cells with the same changes share one line, and changes that are exactly
    the runs' own (the line above) are not spelled out again.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for cell, changes in comparison.cell_environment_changes.items():
        groups.setdefault(tuple(str(change) for change in changes), []).append(cell)
    run_level = tuple(str(change) for change in comparison.environment_changes or [])
    for key, cells in groups.items():
        if not key:
            text = "same environment"
        elif key == run_level:
            text = "the differences between the runs above"
        else:
            text = _changes_text(comparison.cell_environment_changes[cells[0]])
        named = ", ".join(cells[:3]) + (f" and {len(cells) - 3} more" if len(cells) > 3 else "")
        label = f"environment of {named}" if len(cells) == 1 else f"environment of {len(cells)} cells ({named})"
        console.print(f"{escape(label)}: {escape(text)}", highlight=False, soft_wrap=True)


def _environment_line(comparison: RunComparison) -> str:
    """One line on the two runs' environment.json, and on keys an older record format simply lacks."""
    changes = comparison.environment_changes
    if changes is None:
        line = "environment: environment.json not in both runs"
    elif changes:
        line = f"environment: {len(changes)} difference(s) between the runs: {_changes_text(changes)}"
    else:
        line = "environment: the same in both runs"
    for side, other in (("A", "B"), ("B", "A")):
        if keys := comparison.older_format.get(side):
            sections = ", ".join(sorted({key.split(".")[0] for key in keys} - {"schema"}))
            line += f"; {other} records {sections} details that {side}'s older record format lacks"
    return line


def _stored_state(identical: bool | None) -> str:
    return "not on both sides" if identical is None else ("identical" if identical else "DIFFERS")


def compare(
    first: Annotated[Path, typer.Argument(help="Run directory A (the reference).")],
    second: Annotated[Path, typer.Argument(help="Run directory B.")],
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="Largest accepted absolute difference of a metric or probability.")
    ] = 0.0,
) -> None:
    """Compare two run directories cell by cell: status, metrics, predictions, summary table."""
    comparison = compare_runs(first, second, tolerance)
    for side, missing in (("only in A", comparison.only_first), ("only in B", comparison.only_second)):
        for label in missing[:SHOWN]:
            console.print(f"[yellow]{side}:[/] {escape(label)}", highlight=False)
    if comparison.differences:
        _print_differences(comparison)
    console.print(escape(_environment_line(comparison)), highlight=False, soft_wrap=True)
    if comparison.reconfigured:
        console.print(
            f"configuration: {comparison.reconfigured} matched cell(s) have different config hashes "
            "(code or options changed); each side's newest record was compared",
            highlight=False,
        )
    if comparison.differences:
        _print_cell_environments(comparison)
    console.print(
        f"{comparison.matched} matched cell(s), {len(comparison.only_first)} only in A, {len(comparison.only_second)} only in B, "
        f"{len(comparison.differences)} difference(s); largest probability difference {comparison.max_probability_difference:.3g}; "
        f"summary table {'identical' if comparison.summary_identical else 'DIFFERS'}; "
        f"stored summary.csv {_stored_state(comparison.stored_summaries_identical)}",
        highlight=False,
    )
    if not comparison.identical:
        raise typer.Exit(1)
    console.print("[green]the runs agree[/]")
