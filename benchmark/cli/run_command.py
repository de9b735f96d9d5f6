"""``asebench run``: run methods on datasets and print the macro-F1 table."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from asebench.cli.console import console, error_console
from asebench.cli.progress import RichProgress
from asebench.cli.tables import print_summary
from asebench.report.run_files import write_summaries
from asebench.run.config import RunConfig, build_config, read_config_file
from asebench.run.runner import RunObserver, RunOutcome
from asebench.run.runner import run as run_grid
from asebench.store.run_directory import RUN_FILE, RunDirectory
from asebench.store.run_lock import RunLock


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [item.strip() for item in value.split(",") if item.strip()]


def run_and_summarise(
    config: RunConfig, observer: RunObserver | None = None, wait: bool = False
) -> tuple[RunOutcome, list[dict[str, Any]]]:
    """Run the grid, write the summary files from its records and ``run.json``; returns the summary rows too.

    The run directory's lock is held throughout (see :mod:`asebench.store.run_lock`): a second run on the
    same directory is refused, or with ``wait`` waits its turn, instead of computing every cell again.
    """
    message = observer.message if observer is not None else None
    with RunLock(config.run_dir, wait=wait, message=message):
        started_at, tick = _now(), time.perf_counter()
        outcome = run_grid(config, observer)
        run_dir = RunDirectory(outcome.run_dir)
        rows = write_summaries(run_dir, outcome.records, outcome.environment, config)
        run_dir.write_json(RUN_FILE, run_facts(outcome, started_at, _now(), time.perf_counter() - tick))
    return outcome, rows


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_facts(outcome: RunOutcome, started_at: str, finished_at: str, wall_s: float) -> dict[str, Any]:
    """What ``run.json`` says about one invocation: when, how long (wall clock) and what became of its cells.

    Kept apart from the summaries, so they stay a function of the records alone.
    """
    statuses = Counter(record["status"] for record in outcome.records)
    return {
        "started_at": started_at,
        "finished_at": finished_at,
        "wall_s": round(wall_s, 3),
        "cells": {
            "total": len(outcome.records),
            "computed": outcome.executed,
            "reused": outcome.reused,
            "from_cell_cache": outcome.cached,
            **{status: statuses.get(status, 0) for status in ("ok", "skipped", "failed")},
        },
    }


def split_overrides(
    file_split: Any, protocol: str | None, transfer_from: str | None, fit_on: str | None
) -> dict[str, Any] | None:
    """The config's ``split`` with the split flags applied (None: no flag given, the file's stays).

    ``--split-protocol`` replaces the protocol (a file's transfer keys are dropped when it is not
    ``transfer``); ``--transfer-from`` and ``--fit-on`` set ``split.train`` / ``split.fit_on`` and mean transfer.
    """
    if protocol is None and transfer_from is None and fit_on is None:
        return None
    split = dict(file_split) if isinstance(file_split, dict) else {}
    if transfer_from is not None or fit_on is not None:
        protocol = protocol or "transfer"
    if protocol is not None:
        split["protocol"] = protocol
        if protocol != "transfer":
            for key in ("train", "test", "fit_on"):
                split.pop(key, None)
    if transfer_from is not None:
        split["train"] = transfer_from
    if fit_on is not None:
        split["fit_on"] = fit_on
    return split


def code_change_lines(outcome: RunOutcome) -> list[str]:
    """One line per method (then per dataset) whose cells were computed again because its code changed."""
    lines = [
        f"{name}: {change.cells} cell(s) recomputed because its code changed ({change.describe()})"
        for name, change in sorted(outcome.code_changes.items())
    ]
    lines += [
        f"dataset {name}: {change.cells} cell(s) recomputed because its adapter's code changed ({change.describe()})"
        for name, change in sorted(outcome.dataset_code_changes.items())
    ]
    return lines


def run(
    methods: Annotated[
        str | None, typer.Option("--methods", "-m", help="'all', names, comma lists or globs ('resnet*').")
    ] = None,
    datasets: Annotated[
        str | None,
        typer.Option("--datasets", "--dataset", "-d", help="Dataset names or name:ROOT (default: ase-synth)."),
    ] = None,
    tasks: Annotated[str | None, typer.Option(help="binary, multiclass or both (comma list).")] = None,
    seeds: Annotated[str | None, typer.Option(help="Comma list of seeds, e.g. 0,1,2.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML or TOML run config.")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Where records and tables go (default runs/default).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = None,
    profile: Annotated[str | None, typer.Option(help="quick (CPU-sized) or paper (full schedule).")] = None,
    deterministic: Annotated[
        bool | None, typer.Option("--deterministic/--no-deterministic", help="Deterministic algorithms.")
    ] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Recompute cells that are already finished.")] = False,
    cell_cache: Annotated[
        bool | None,
        typer.Option(
            "--cell-cache/--no-cell-cache",
            help="Reuse cells that an earlier run on this machine and install finished (default: on).",
        ),
    ] = None,
    no_efficiency: Annotated[
        bool,
        typer.Option(
            "--no-efficiency", help="Skip the extra timing passes (per-image latency, FLOPs) after each cell."
        ),
    ] = False,
    plugin: Annotated[
        list[str] | None, typer.Option("--plugin", "-p", help="Plugin module or .py file (repeatable).")
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="Where cells run: local (this process), process (local pool) or ray.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="process: pool size (default one per GPU, else one per core); ray: CPUs of a local cluster."),
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to connect to ('auto' or host:port); default starts a local one.")
    ] = None,
    max_retries: Annotated[
        int | None, typer.Option(help="Times a cell is retried after its worker died (default 2).")
    ] = None,
    split_protocol: Annotated[
        str | None,
        typer.Option(
            help="holdout, kfold, official (per category: fit on the dataset's normal train images, score its "
            "test split) or transfer (needs --transfer-from)."
        ),
    ] = None,
    transfer_from: Annotated[
        str | None,
        typer.Option(help="transfer: the dataset (name or name:ROOT) the methods are fitted on; implies transfer."),
    ] = None,
    fit_on: Annotated[
        str | None, typer.Option(help="transfer: fit on the source's official 'test' (default) or 'train' split.")
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="If another run holds the run directory, wait for it instead of stopping."),
    ] = False,
    allow_download: Annotated[
        bool | None,
        typer.Option(
            "--allow-download/--no-allow-download",
            envvar="ASEBENCH_ALLOW_DOWNLOAD",
            help="Let weights: auto download the pretrained weights timm or open_clip names (into the Hugging Face "
            "cache) when no local copy exists. Default: off, or the config's allow_download.",
        ),
    ] = None,
) -> None:
    """Run every selected method on every selected dataset, task, seed and fold."""
    file_data = read_config_file(config) if config else {}
    overrides: dict[str, Any] = {
        "methods": _csv(methods),
        "datasets": _csv(datasets),
        "tasks": _csv(tasks),
        "seeds": None,
        "run_dir": run_dir,
        "device": device,
        "profile": profile,
        "deterministic": deterministic,
        "rerun": rerun or None,
        "cell_cache": cell_cache,
        "efficiency": False if no_efficiency else None,
        "plugins": [*file_data.get("plugins", []), *(plugin or [])] or None,
        "executor": executor,
        "workers": workers,
        "ray_address": ray_address,
        "max_retries": max_retries,
        "allow_download": allow_download,
    }
    if seeds:
        try:
            overrides["seeds"] = [int(s) for s in _csv(seeds) or []]
        except ValueError as exc:
            raise typer.BadParameter(f"--seeds must be integers: {seeds}") from exc
    overrides["split"] = split_overrides(file_data.get("split"), split_protocol, transfer_from, fit_on)
    resolved = build_config(file_data, overrides, source=str(config) if config else "command line")
    with RichProgress(error_console) as progress:
        outcome, rows = run_and_summarise(resolved, progress.observer(), wait=wait)
    for line in outcome.broken_plugins:
        error_console.print(
            f"[yellow]warning:[/] {escape(line)}; its methods are left out of this run", highlight=False
        )
    for line in outcome.dropped_files:
        error_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    print_summary(console, rows)
    console.print(
        f"\n{outcome.executed} cell(s) computed, {outcome.reused} reused from [bold]{escape(str(outcome.run_dir))}[/]; "
        f"tables in {escape(str(outcome.run_dir))}/summary.md"
    )
    if outcome.cached:
        console.print(
            f"{outcome.cached} cell(s) taken from the cell cache {escape(str(outcome.cell_cache))} "
            "(computed by an earlier run with the same code, install and settings; --no-cell-cache recomputes them)",
            highlight=False,
        )
    for line in code_change_lines(outcome):
        console.print(line, highlight=False, markup=False)
    if outcome.failed:
        error_console.print(f"[bold red]{len(outcome.failed)} cell(s) failed:[/]")
        for record in outcome.failed:
            cell = record["cell"]
            error = record.get("error") or {}
            error_console.print(
                f"  {cell['method']} on {cell['dataset']} {cell['task']} seed {cell['seed']}: "
                f"{error.get('type')}: {error.get('message')}",
                highlight=False,
                markup=False,
            )
        raise typer.Exit(1)
