"""Runs into new run directories reuse the cell cache: same records, nothing recomputed, and only when safe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.cli.run_command import run_and_summarise
from asebench.run.config import RunConfig
from asebench.run.runner import RunOutcome
from asebench.store.run_directory import load_record

TOY_PLUGIN = str(Path(__file__).resolve().parents[2] / "fixtures" / "toy_methods.py")


@pytest.fixture()
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache root for this test alone, so no other test's cells are found in it."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ASEBENCH_CACHE_DIR", str(root))
    return root


def make_config(root: Path, run_dir: Path, **overrides: Any) -> RunConfig:
    values: dict[str, Any] = {
        "methods": ["majority", "toy-constant", "toy-fails", "toy-anomaly"],
        "datasets": ["folder"],
        "dataset_options": {"folder": {"root": str(root)}},
        "tasks": ["binary"],
        "seeds": [0],
        "device": "cpu",
        "run_dir": run_dir,
        "bootstrap": {"samples": 20},
        "plugins": [TOY_PLUGIN],
    }
    values.update(overrides)
    return RunConfig(**values)


def run(config: RunConfig) -> RunOutcome:
    return run_and_summarise(config)[0]


def without_execution(record: Any) -> Any:
    return {key: value for key, value in record.items() if key != "execution"}


def test_a_new_run_directory_reuses_the_cached_cells(own_cache: Path, tiny_folder_dataset: Any, tmp_path: Path) -> None:
    root = tiny_folder_dataset()
    first = run(make_config(root, tmp_path / "first"))
    assert (first.executed, first.reused, first.cached) == (4, 0, 0)
    assert first.cell_cache is not None and first.cell_cache.parent == own_cache / "cells"

    second = run(make_config(root, tmp_path / "second"))
    assert (second.executed, second.reused, second.cached) == (1, 0, 3)  # toy-fails failed: it is tried again
    for before, after in zip(first.records, second.records, strict=True):
        if before["status"] != "ok":
            continue
        assert without_execution(after) == without_execution(json.loads(json.dumps(before)))
        assert after["execution"]["cell_cache"] == str(first.cell_cache)
    assert (tmp_path / "first" / "summary.csv").read_text() == (tmp_path / "second" / "summary.csv").read_text()
    anomaly = next(r for r in second.records if r["cell"]["method"] == "toy-anomaly")
    maps = anomaly["artifacts"]["anomaly_maps"]
    np.testing.assert_array_equal(
        np.load(tmp_path / "second" / "cells" / maps), np.load(tmp_path / "first" / "cells" / maps)
    )
    assert load_record(tmp_path / "second" / "cells" / f"{maps.removesuffix('.anomaly_maps.npy')}.json") == anomaly


def test_the_switch_rerun_and_other_settings_recompute(
    own_cache: Path, tiny_folder_dataset: Any, tmp_path: Path
) -> None:
    root = tiny_folder_dataset()
    run(make_config(root, tmp_path / "first"))
    off = run(make_config(root, tmp_path / "off", cell_cache=False))
    assert (off.executed, off.cached, off.cell_cache) == (4, 0, None)
    forced = run(make_config(root, tmp_path / "forced", rerun=True))
    assert (forced.executed, forced.cached) == (4, 0)
    timed = run(make_config(root, tmp_path / "timed", efficiency=False))  # a setting outside the config hash
    assert (timed.executed, timed.cached) == (4, 0)


def test_rescoring_settings_apply_to_cached_cells(own_cache: Path, tiny_folder_dataset: Any, tmp_path: Path) -> None:
    root = tiny_folder_dataset()
    first = run(make_config(root, tmp_path / "first", methods=["toy-anomaly"]))
    again = run(make_config(root, tmp_path / "again", methods=["toy-anomaly"], bootstrap={"samples": 30}))
    assert (again.executed, again.cached) == (0, 1)
    record = again.records[0]
    assert record["metrics"]["bootstrap"]["samples"] == 30
    assert record["anomaly_metrics"] == first.records[0]["anomaly_metrics"]
