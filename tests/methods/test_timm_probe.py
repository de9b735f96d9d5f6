"""Linear probes on frozen timm features: the feature cache across seeds and weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.run.config import RunConfig
from asebench.run.runner import RunOutcome, run

pytest.importorskip("torch")
pytest.importorskip("timm")


def _random_resnet18_checkpoint(path: Path) -> Path:
    import timm
    import torch

    torch.manual_seed(0)
    torch.save(timm.create_model("resnet18", num_classes=10).state_dict(), path)
    return path


def _run_probe(root: Path, run_dir: Path, weights: Path, seed: int) -> RunOutcome:
    return run(
        RunConfig(
            methods=["resnet18-probe"],
            datasets=["folder"],
            dataset_options={"folder": {"root": str(root)}},
            tasks=["multiclass"],
            seeds=[seed],
            device="cpu",
            run_dir=run_dir,
            bootstrap={"samples": 10},
            method_options={"resnet18-probe": {"weights": str(weights), "image_size": 32}},
        )
    )


def test_second_probe_run_reads_features_from_the_cache(
    tiny_folder_dataset: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another seed on the same data reuses the cached features: the backbone never runs again."""
    root = tiny_folder_dataset()
    weights = _random_resnet18_checkpoint(tmp_path / "r18.pth")
    [first] = _run_probe(root, tmp_path / "run", weights, seed=0).records
    assert first["status"] == "ok", first.get("error")
    assert first["method"]["provenance"]["features_computed"] == 26  # every image of the tiny set, once

    from asebench.components import extraction

    def backbone_must_not_run(*args: Any, **kwargs: Any) -> np.ndarray:
        raise AssertionError("the backbone ran although every feature was cached")

    monkeypatch.setattr(extraction, "extract", backbone_must_not_run)
    [second] = _run_probe(root, tmp_path / "run", weights, seed=1).records
    assert second["status"] == "ok", second.get("error")
    assert second["method"]["provenance"]["features_computed"] == 0
    assert second["method"]["provenance"]["feature_cache"] == first["method"]["provenance"]["feature_cache"]


def test_other_weights_do_not_hit_the_cache(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    """The cache key holds the weights' sha256, so new weights mean new features."""
    root = tiny_folder_dataset()
    [first] = _run_probe(root, tmp_path / "a", _random_resnet18_checkpoint(tmp_path / "a.pth"), seed=0).records
    import timm
    import torch

    torch.manual_seed(1)
    other = tmp_path / "b.pth"
    torch.save(timm.create_model("resnet18", num_classes=10).state_dict(), other)
    [second] = _run_probe(root, tmp_path / "b", other, seed=0).records
    assert second["method"]["provenance"]["features_computed"] == 26
    assert second["method"]["provenance"]["feature_cache"] != first["method"]["provenance"]["feature_cache"]
