"""A cold grid gives the same records under ``local`` and under ``process`` (what ``make run`` uses).

The cells of a grid fill shared caches (backbone features, OCR readings,
texts, text embeddings) with whatever is missing when they ask. Under
``local`` the grid order decides what that is; two process workers race for
it. A cached value that depended on which other items were computed with it
would make the table depend on the schedule, so each side starts from its own
empty cache and every stored number must match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asebench.run.config import RunConfig
from asebench.run.runner import run
from asebench.store.run_directory import load_record

pytest.importorskip("timm")

SMALL_DATA = {"ase-synth": {"scale": 0.2, "points_scale": 0.1}}


def records_by_cell(run_dir: Path) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r["cell"].values()): r for r in map(load_record, sorted((run_dir / "cells").glob("*.json")))}


def _cold_run(root: Path, name: str, methods: list[str], monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Path:
    monkeypatch.setenv("ASEBENCH_CACHE_DIR", str(root / f"cache-{name}"))
    run_dir = root / name
    config = RunConfig(
        methods=methods,
        datasets=["ase-synth"],
        dataset_options=SMALL_DATA,
        seeds=[0, 1],  # two splits per task: each asks the caches for another subset of ids
        episodes={"count": 10, "queries": 5, "shots": [1]},
        bootstrap={"samples": 0},
        device="cpu",
        efficiency=False,
        run_dir=run_dir,
        **extra,
    )
    outcome = run(config)
    failed = [(r["cell"]["method"], r.get("error")) for r in outcome.records if r["status"] == "failed"]
    assert not failed, failed  # skipped: e.g. knn has no multiclass task
    return run_dir


def assert_same_grid(methods: list[str], root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = records_by_cell(_cold_run(root, "local", methods, monkeypatch))
    process = records_by_cell(_cold_run(root, "process", methods, monkeypatch, executor="process", workers=2))
    assert local.keys() == process.keys() and len(local) == 4 * len(methods)
    for cell, record in local.items():
        assert record["status"] == process[cell]["status"], cell
        if record["status"] != "ok":
            continue
        assert record["predictions"] == process[cell]["predictions"], f"{cell}: predictions differ"
        assert record["metrics"] == process[cell]["metrics"], cell


def test_a_cold_grid_of_feature_methods_is_the_same_under_local_and_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_same_grid(["tf_efficientnet_lite0-probe", "simpleshot", "knn"], tmp_path, monkeypatch)


@pytest.mark.slow
def test_a_cold_grid_of_the_text_family_is_the_same_under_local_and_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_same_grid(["ocr-numbers-only", "vlm-llm-full", "vlm-llm-no-tda", "protonet"], tmp_path, monkeypatch)
