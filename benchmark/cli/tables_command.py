"""``asebench tables``: regenerate the tables that live in the repository from a stored run.

``--paper`` reads ``results/<name>/cells`` (or a given run directory) and writes
``tables/{main,per_class_f1,ablation}.{md,csv,tex}`` beside it. ``--readme``
renders the README's quick-start table (what ``asebench run`` prints) and the
block saying how it was measured from ``results/quickstart`` (or ``--run``) and
rewrites them between their markers in README.md. ``--check`` writes nothing
and fails when the committed files differ, so CI can prove they still follow
from the records.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from asebench.api.errors import ResultsError
from asebench.cli.console import console, error_console
from asebench.cli.tables import summary_text
from asebench.report.paper_tables import (
    DEFAULT_NAME,
    compare_tables,
    default_results_root,
    reference_run,
    write_paper_tables,
)
from asebench.report.sections.readme import (
    QUICKSTART_NAME,
    blocks_diff,
    default_readme,
    readme_blocks,
    replace_blocks,
)
from asebench.report.summary import summary_rows
from asebench.store.atomic import atomic_write_text
from asebench.store.run_directory import merge_records


def tables(
    run_dir: Annotated[Path | None, typer.Argument(help="Run directory (default: results/<name>).")] = None,
    paper: Annotated[bool, typer.Option("--paper", help="Paper-style tables of a reference run.")] = False,
    readme: Annotated[
        bool, typer.Option("--readme", help="The README's quick-start table and measured block.")
    ] = False,
    name: Annotated[str, typer.Option(help="Reference run under the results folder (--paper).")] = DEFAULT_NAME,
    run: Annotated[
        Path | None, typer.Option("--run", help="Run the README blocks come from (default: results/quickstart).")
    ] = None,
    readme_file: Annotated[
        Path | None, typer.Option("--readme-file", help="README to update (default: ./README.md, else the checkout's).")
    ] = None,
    results_root: Annotated[
        Path | None, typer.Option(help="Folder holding reference runs (default: ./results, else the checkout's).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the tables (default: <run dir>/tables).")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Do not write; exit 1 if the stored tables differ from regenerated ones.")
    ] = False,
) -> None:
    """Regenerate paper tables (--paper) or the README's quick-start blocks (--readme) from stored records."""
    if paper == readme:
        raise ResultsError(
            "say which tables: --paper (paper-style tables) or --readme (the README's quick-start blocks); "
            "`asebench report` writes the full report"
        )
    if readme:
        source = run or run_dir or (results_root or default_results_root()) / QUICKSTART_NAME
        _readme(source, readme_file or default_readme(), check)
        return
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


def _readme(source: Path, readme: Path, check: bool) -> None:
    """Render the README blocks from ``source``; rewrite ``readme`` or (``check``) diff it."""
    if not (source / "cells").is_dir():
        raise ResultsError(f"no run at {source} (no cells/ folder): commit a `make run` copy there or pass --run")
    if not readme.is_file():
        raise ResultsError(f"no README at {readme}; pass --readme-file")
    records = merge_records([source])
    blocks = readme_blocks(source, records, summary_text(summary_rows(records)))
    current = readme.read_text(encoding="utf-8")
    rendered = replace_blocks(current, blocks, where=str(readme))
    if check:
        if rendered != current:
            error_console.print(
                f"[bold red]{escape(str(readme))} differs from the run {escape(str(source))}[/] "
                f"(`asebench tables --readme --run {escape(str(source))}` rewrites it):",
                highlight=False,
            )
            diff = blocks_diff(current, rendered, str(readme))
            error_console.print(diff, markup=False, highlight=False, emoji=False, soft_wrap=True, end="")
            raise typer.Exit(1)
        console.print(f"{escape(str(readme))} matches the run {escape(str(source))}", highlight=False)
        return
    if rendered == current:
        console.print(f"{escape(str(readme))} already matches the run {escape(str(source))}", highlight=False)
        return
    atomic_write_text(readme, rendered)
    console.print(
        f"rewrote the quick-start blocks of {escape(str(readme))} from {escape(str(source))}", highlight=False
    )
