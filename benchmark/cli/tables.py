"""Rendering summary rows as a rich console table, on a terminal or as fixed-width text for the README."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from asebench.cli.console import PIPED_WIDTH
from asebench.report.summary import summary_table, summary_title, table_notes

NOTE_STYLE = {"failed": "bold red", "skipped": "yellow", "ok": "yellow"}


def summary_console_table(rows: Sequence[dict[str, Any]]) -> Table:
    """The macro-F1 table as rich draws it (mean ± std over seeds, or a one-seed CI) with tail-F1 and the worst class."""
    summary = summary_table(rows)
    table = Table(title=summary_title(rows), title_justify="left")
    for column in summary.columns:
        table.add_column(column.name, overflow="fold")
    for cells in summary.rows:
        table.add_row(*(escape(cell.text + cell.mark) for cell in cells))
    return table


def print_summary(console: Console, rows: Sequence[dict[str, Any]], max_notes: int | None = None) -> None:
    """Print the summary table and its notes (all of them, or the first ``max_notes`` and how many more).

    A note is one reason and the methods it covers (:func:`~asebench.report.summary.table_notes`).
    """
    if not rows:
        console.print("no cells to summarise")
        return
    console.print(summary_console_table(rows))
    notes = table_notes(rows)
    shown = notes if max_notes is None else notes[:max_notes]
    for note in shown:
        status, _, reason = note.partition(": ")
        console.print(f"[{NOTE_STYLE.get(status, 'yellow')}]{escape(status)}:[/] {escape(reason)}", highlight=False)
    if len(notes) > len(shown):
        more = len(notes) - len(shown)
        console.print(f"… and {more} more note{'s' if more > 1 else ''}: summary.md lists them all", highlight=False)


def summary_text(rows: Sequence[dict[str, Any]], max_notes: int | None = None) -> str:
    """What ``asebench run`` prints for ``rows`` piped to a file, as plain text (no colour, no trailing spaces).

    The width is the piped width (:data:`~asebench.cli.console.PIPED_WIDTH`), or the table's
    natural width when that is wider, so no table row wraps; width and height are fixed, so the
    text does not depend on the terminal or on ``COLUMNS``. Long notes wrap as that terminal wraps them.
    """
    width = PIPED_WIDTH
    if rows:
        natural = Console(file=io.StringIO(), width=10_000, height=25, color_system=None, legacy_windows=False)
        width = max(width, natural.measure(summary_console_table(rows)).maximum)
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        height=25,
        color_system=None,
        force_terminal=False,
        force_interactive=False,
        force_jupyter=False,
        legacy_windows=False,
        soft_wrap=False,
    )
    print_summary(console, rows, max_notes)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())
