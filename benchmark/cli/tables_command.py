"""``asebench tables --paper``: regenerate the paper tables of a stored reference run.

Reads ``results/<name>/cells`` (or a given run directory) and writes
``tables/{main,per_class_f1,ablation}.{md,csv,tex}`` beside it. ``--check``
regenerates into a temporary folder and fails when the committed files differ,
so CI can prove the paper tables still follow from the records.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from asebench.api.errors import ResultsError
from asebench.cli.console import console, error_console
from asebench.report.paper_tables import DEFAULT_NAME, compare_tables, reference_run, write_paper_tables


def tables(
    run_dir: Annotated[Path | None, typer.Argument(help="Run directory (default: results/<name>).")] = None,
    paper: Annotated[bool, typer.Option("--paper", help="Paper-style tables (the only style so far).")] = False,
    name: Annotated[str, typer.Option(help="Reference run under the results folder.")] = DEFAULT_NAME,
    results_root: Annotated[
        Path | None, typer.Option(help="Folder holding reference runs (default: ./results, else the checkout's).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the tables (default: <run dir>/tables).")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Do not write; exit 1 if the stored tables differ from regenerated ones.")
    ] = False,
) -> None:
    """Regenerate paper tables (baselines, few-shot, zero-shot, ours; ablation) from stored records."""
    if not paper:
        raise ResultsError("say which tables: --paper (paper-style tables); `asebench report` writes the full report")
    source = run_dir if run_dir is not None else reference_run(name, results_root)
    target = out if out is not None else source / "tables"
    if check:
        with tempfile.TemporaryDirectory() as scratch:
            write_paper_tables(source, Path(scratch))
            differing = compare_tables(target, Path(scratch))
        if differing:
            error_console.print(
                f"[bold red]tables differ from the records:[/] {escape(', '.join(differing))} in {escape(str(target))}"
            )
            raise typer.Exit(1)
        console.print(f"paper tables in {escape(str(target))} match the records of {escape(str(source))}")
        return
    written = write_paper_tables(source, target)
    for path in written:
        console.print(f"wrote {escape(str(path))}", highlight=False)
