"""``asebench report``: rebuild summaries and write the full report from stored records.

Merges one or more run directories (e.g. from different machines), rewrites
the summary files as before, and writes ``<out>/report/``: paper-ready tables
(Markdown, CSV, LaTeX), significance tests, figures and one HTML page. No
model is run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from asebench.api.errors import ResultsError
from asebench.cli.console import console
from asebench.cli.tables import print_summary
from asebench.report.aggregate import ReportSettings
from asebench.report.run_files import write_summaries
from asebench.report.writer import FORMATS, parse_formats, write_report
from asebench.scoring.statistics import SEED_TEST_NAMES
from asebench.store.run_directory import RunDirectory, merge_records


def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run directories to merge.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write summaries and report/ (default: the first run directory).")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="Method every other is tested against (default: best mean macro-F1 per dataset/task)."),
    ] = None,
    formats: Annotated[str, typer.Option(help=f"Comma list of {', '.join(FORMATS)}.")] = ",".join(FORMATS),
    bootstrap_samples: Annotated[int, typer.Option(min=1, help="Bootstrap resamples for CIs and paired tests.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Significance level for the † marks.")] = 0.05,
    seed_test: Annotated[
        str, typer.Option(help="Test across seeds: corrected (resampled t-test, Nadeau-Bengio), ttest or wilcoxon.")
    ] = "corrected",
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw figures (matplotlib).")] = True,
) -> None:
    """Recompute tables, significance tests and figures from the per-cell records alone (no model is run)."""
    chosen = parse_formats(formats)
    if seed_test not in SEED_TEST_NAMES:
        raise ResultsError(f"--seed-test must be one of {', '.join(SEED_TEST_NAMES)}, not {seed_test!r}")
    records = merge_records(run_dirs)
    target = RunDirectory(out or run_dirs[0])
    target.prepare(with_cells=False)
    rows = write_summaries(target, records, environment={"merged_from": [str(p) for p in run_dirs]})
    print_summary(console, rows)
    settings = ReportSettings(
        bootstrap_samples=bootstrap_samples,
        bootstrap_seed=seed,
        alpha=alpha,
        seed_test=seed_test,  # type: ignore[arg-type]
        reference=reference,
    )
    output = write_report(records, run_dirs, target.path, settings, chosen, plots)
    for note in output.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    console.print(
        f"\n{len(records)} record(s) from {len(run_dirs)} run dir(s); summaries in {escape(str(target.path))}, "
        f"report ({len(output.tables)} tables, {len(output.figures)} figures, {len(output.files)} files) in "
        f"{escape(str(output.folder))}",
        highlight=False,
    )
