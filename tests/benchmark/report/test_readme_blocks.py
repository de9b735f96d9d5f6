"""The README's generated blocks: the measured block from a run directory's files, and the marker splice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asebench.api.errors import ResultsError
from asebench.report.sections.readme import (
    MEASURED_BLOCK,
    TABLE_BLOCK,
    blocks_diff,
    duration,
    marker,
    measured_block,
    readme_blocks,
    replace_blocks,
)

ENVIRONMENT: dict[str, Any] = {
    "python": "3.11.7",
    "platform": "Linux-6.1-x86_64-with-glibc2.36",
    "cpu_count": 16,
    "device": "cpu",
    "git": "0123456789abcdef",
    "packages": {"torch": "2.14.1"},
    "torch": {"torch": "2.14.1+cpu", "threads": 8},
}


def record(status: str, created_at: str, total_s: float | None = None) -> dict[str, Any]:
    """As much of a cell record as the measured block reads."""
    return {
        "status": status,
        "created_at": created_at,
        "timings": {} if total_s is None else {"total_s": total_s},
        "environment": ENVIRONMENT,
    }


RECORDS = [
    record("ok", "2026-12-06T14:00:00+00:00", 60.0),
    record("ok", "2026-12-06T14:05:30+01:00", 30.4),
    record("skipped", "2026-12-06T13:00:00+00:00"),
    record("failed", "2026-12-06T13:30:00+00:00", 2.0),
]


def write_run(path: Path, *, run_json: dict[str, Any] | None, environment: dict[str, Any] | None) -> Path:
    path.mkdir()
    (path / "config.json").write_text(
        json.dumps(
            {
                "config": {
                    "datasets": ["ase-synth"],
                    "tasks": ["binary", "multiclass"],
                    "seeds": [0],
                    "profile": "quick",
                    "executor": "local",
                }
            }
        )
    )
    if run_json is not None:
        (path / "run.json").write_text(json.dumps(run_json))
    if environment is not None:
        (path / "environment.json").write_text(json.dumps(environment))
    return path


def test_measured_block_takes_wall_time_and_counts_from_run_json_and_the_machine_from_the_environment(
    tmp_path: Path,
) -> None:
    environment = {
        **ENVIRONMENT,
        "cpu": {"model": "AMD EPYC 9B14", "usable_cores": 2, "flags": ["avx2"]},
        "torch": {**ENVIRONMENT["torch"], "threads": 2, "cpu_capability": "AVX512"},
        "threadpools": [{"internal_api": "openmp", "user_api": "openmp", "num_threads": 2}],
    }
    run_json = {
        "started_at": "2026-12-06T13:40:00+00:00",
        "finished_at": "2026-12-06T14:06:24+00:00",
        "wall_s": 1584.4,
        "cells": {"total": 4, "computed": 3, "reused": 1, "ok": 2, "skipped": 1, "failed": 1},
    }
    run = write_run(tmp_path / "run", run_json=run_json, environment=environment)
    assert measured_block(run, RECORDS) == (  # type: ignore[arg-type]
        "| what | value |\n"
        "|---|---|\n"
        "| finished | 2026-12-06 14:06 UTC |\n"
        "| grid | ase-synth, binary + multiclass, seed 0, profile quick, executor local |\n"
        "| machine | AMD EPYC 9B14, Linux-6.1-x86_64-with-glibc2.36, 2 logical CPUs, device cpu |\n"
        "| threads | torch 2 (CPU capability AVX512), openmp 2 |\n"
        "| cells | 4: 2 ok, 1 skipped, 1 failed (3 computed, 1 reused) |\n"
        "| wall time | 26 min 24 s (`run.json`) |\n"
        "| software | Python 3.11.7, torch 2.14.1+cpu, asebench git 01234567 |\n"
    )


def test_without_run_json_the_block_sums_the_cells_compute_time_and_falls_back_to_the_records(
    tmp_path: Path,
) -> None:
    run = write_run(tmp_path / "run", run_json=None, environment=None)  # an older run: no run.json, no cpu facts
    block = measured_block(run, RECORDS)  # type: ignore[arg-type]
    assert "| finished | 2026-12-06 14:00 UTC |" in block  # the newest record (14:05:30+01:00 is 13:05:30 UTC)
    assert "| machine | Linux-6.1-x86_64-with-glibc2.36, 16 logical CPUs, device cpu |" in block
    assert "| threads | torch 8 |" in block
    assert "| cells | 4: 2 ok, 1 skipped, 1 failed |" in block
    assert "| compute time | 1 min 32 s summed over the cells (no `run.json`: wall time not recorded) |" in block


def test_durations_read_as_a_person_would_write_them() -> None:
    assert [duration(s) for s in (0.4, 42, 60, 1584.4, 3725)] == [
        "0 s",
        "42 s",
        "1 min 00 s",
        "26 min 24 s",
        "1 h 02 min",
    ]


def readme(*blocks: str) -> str:
    parts = ["# title\n\nintro\n\n"]
    for name in blocks:
        parts.append(f"{marker(name, 'begin')}\nold {name}\n{marker(name, 'end')}\n\nbetween\n\n")
    return "".join(parts) + "end\n"


def test_blocks_replace_only_the_text_between_their_markers_and_again_give_the_same_text(tmp_path: Path) -> None:
    text = readme(TABLE_BLOCK, MEASURED_BLOCK)
    blocks = readme_blocks(write_run(tmp_path / "run", run_json=None, environment=ENVIRONMENT), [], "table\n")
    rendered = replace_blocks(text, blocks)
    assert rendered.startswith("# title\n\nintro\n\n") and rendered.endswith("between\n\nend\n")
    assert f"{marker(TABLE_BLOCK, 'begin')}\n```text\ntable\n```\n{marker(TABLE_BLOCK, 'end')}\n" in rendered
    assert "old " not in rendered
    assert replace_blocks(rendered, blocks) == rendered
    diff = blocks_diff(text, rendered, "README.md")
    assert "--- README.md" in diff and "-old quickstart-table" in diff and "+table" in diff


@pytest.mark.parametrize(
    "text",
    [
        readme(TABLE_BLOCK),  # the measured block's markers are missing
        readme(TABLE_BLOCK, MEASURED_BLOCK, MEASURED_BLOCK),  # twice
        readme(TABLE_BLOCK) + f"{marker(MEASURED_BLOCK, 'end')}\nx\n{marker(MEASURED_BLOCK, 'begin')}\n",  # reversed
    ],
    ids=["missing", "twice", "reversed"],
)
def test_markers_missing_twice_or_out_of_order_are_a_clear_error(text: str) -> None:
    with pytest.raises(ResultsError, match="needs the markers <!-- asebench:quickstart-"):
        replace_blocks(text, {TABLE_BLOCK: "a\n", MEASURED_BLOCK: "b\n"}, where="README.md")
