"""Options and availability shared by the CLIP plugins (pydantic only: no torch here).

``weights: auto`` (the default) is open_clip's pretrained checkpoint of the
architecture, found in the local Hugging Face cache, or downloaded there when
the run allows it (``--allow-download``; see
:mod:`asebench.methods._clip.pretrained`); without either the method is
unavailable and says how to fix it. ``weights`` may also be a local open_clip
checkpoint. ``weights: random`` builds the architecture with random
initialisation; it exists for the test-suite, whose numbers are meaningless,
and is never picked automatically.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from asebench.api.method import MethodOptions
from asebench.methods._clip.pretrained import AUTO_WEIGHTS

DEFAULT_MODEL = "ViT-B-16-plus-240"  # WinCLIP's backbone (Jeong et al., CVPR 2023)
RANDOM_WEIGHTS = "random"
RANDOM_WEIGHTS_NOTE = "random initialisation (tests only): the numbers are meaningless"


def uses_random_weights(options: ClipOptions) -> bool:
    """Whether a CLIP method runs on random-init weights: what its ``placeholder_weights()`` declares."""
    return options.weights == RANDOM_WEIGHTS


class ClipOptions(MethodOptions):
    """An open_clip architecture and its weights.

    ``model`` is an open_clip architecture name (``ViT-B-16-plus-240``,
    ``ViT-B-16``, ...) or the path of an open_clip model-config JSON
    (``{"embed_dim": .., "vision_cfg": {..}, "text_cfg": {..}}``) for other
    architectures. ``weights`` is ``auto`` (open_clip's pretrained checkpoint
    from the Hugging Face cache), a ``.safetensors``/``.pth``/``.pt``/``.bin``
    file or a directory holding one, or ``random``. ``image_size`` None means
    the architecture's own size (240 for ViT-B-16-plus-240).
    """

    model: str = DEFAULT_MODEL
    weights: str = AUTO_WEIGHTS
    image_size: int | None = Field(None, ge=16)
    batch_size: int = Field(8, ge=1)

    @field_validator("weights")
    @classmethod
    def _known_sources(cls, value: str) -> str:
        if value in ("scratch", ""):
            raise ValueError(
                "CLIP weights are 'auto' (open_clip's pretrained checkpoint), a local checkpoint path, "
                "or 'random' (tests only)"
            )
        return value


class ClipPromptOptions(ClipOptions):
    """Text-prompt settings of the zero-shot methods (see ``asebench.methods._clip.prompts``)."""

    object_name: str | None = None
    class_prompts: dict[str, list[str]] = Field(default_factory=dict)
    prompts_file: Path | None = None
    templates: list[str] | None = None
    prototype: Literal["normalise-mean-normalise", "mean-normalise"] = "normalise-mean-normalise"
    temperature: float = Field(0.01, gt=0.0)
    replace_underscores: bool = True


def clip_availability(options: ClipOptions, method_name: str, allow_download: bool = False) -> str | None:
    """Why a CLIP method cannot run here (no open_clip, no weights, missing file), or None.

    ``allow_download``: ``weights: auto`` missing from the cache is downloaded now (see ``pretrained``).
    """
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("open_clip") is None:
        return "needs torch and open_clip_torch (pip install open_clip_torch, pinned with torch; see requirements/base.txt)"
    if options.model.endswith(".json"):
        if not Path(options.model).expanduser().is_file():
            return f"open_clip model config not found: {options.model} (option model)"
    elif not builtin_architecture_exists(options.model):
        return f"unknown open_clip architecture {options.model!r} (option model): not in open_clip's model_configs"
    if options.weights == RANDOM_WEIGHTS:
        return None
    from asebench.methods._clip.pretrained import resolve_clip_weights

    return resolve_clip_weights(options.model, options.weights, method_name, allow_download)[1]


def builtin_architecture_exists(name: str) -> bool:
    """Whether open_clip ships a config for ``name``, found on disk without importing open_clip (torch)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or spec.origin is None:
        return False
    return (Path(spec.origin).parent / "model_configs" / f"{name}.json").is_file()
