"""``asebench report``: rebuild tables from stored records, merging run directories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from asebench.cli.console import console
from asebench.cli.tables import print_summary
from asebench.results import RunDirectory, merge_records
from asebench.runner import write_summaries


def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run directories to merge.")],
    out: Annotated[Optional[Path], typer.Option(help="Where to write the tables (default: the first run directory).")] = None,
) -> None:
    """Recompute summary tables from the per-cell records alone (no model is run)."""
    records = merge_records(run_dirs)
    target = RunDirectory(out or run_dirs[0])
    target.prepare(with_cells=False)
    rows = write_summaries(target, records, environment={"merged_from": [str(p) for p in run_dirs]})
    print_summary(console, rows)
    console.print(f"\n{len(records)} record(s) from {len(run_dirs)} run dir(s); tables in {target.path}")
