"""Rendering summary rows as a rich console table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from asebench.report.summary import summary_table, table_notes


def print_summary(console: Console, rows: Sequence[dict[str, Any]]) -> None:
    """Print the macro-F1 table (mean ± std over seeds) with tail-F1 and the worst class."""
    if not rows:
        console.print("no cells to summarise")
        return
    summary = summary_table(rows)
    table = Table(title="macro-F1 (mean ± std over seeds/folds)", title_justify="left")
    for column in summary.columns:
        table.add_column(column.name, overflow="fold")
    for cells in summary.rows:
        table.add_row(*(escape(cell.text + cell.mark) for cell in cells))
    console.print(table)
    for note in table_notes(rows):
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
