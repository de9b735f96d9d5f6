"""Options and availability shared by the CLIP plugins (pydantic only: no torch here).

No pretrained CLIP weights exist on our machines (``stack.md``) and nothing is
ever downloaded: a CLIP method runs only with ``weights`` set to a local
open_clip checkpoint. ``weights: random`` builds the architecture with random
initialisation; it exists for the test-suite, whose numbers are meaningless,
and is never picked automatically.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from asebench.api.method import MethodOptions

DEFAULT_MODEL = "ViT-B-16-plus-240"  # WinCLIP's backbone (clip-anomaly.md §1.1)
RANDOM_WEIGHTS = "random"
RANDOM_WEIGHTS_NOTE = "random initialisation (tests only): the numbers are meaningless"


def uses_random_weights(options: ClipOptions) -> bool:
    """Whether a CLIP method runs on random-init weights: what its ``placeholder_weights()`` declares."""
    return options.weights == RANDOM_WEIGHTS


class ClipOptions(MethodOptions):
    """An open_clip architecture and a local checkpoint for it.

    ``model`` is an open_clip architecture name (``ViT-B-16-plus-240``,
    ``ViT-B-16``, ...) or the path of an open_clip model-config JSON
    (``{"embed_dim": .., "vision_cfg": {..}, "text_cfg": {..}}``) for other
    architectures. ``weights`` is a ``.safetensors``/``.pth``/``.pt``/``.bin``
    file or a directory holding one, or ``random``. ``image_size`` None means
    the architecture's own size (240 for ViT-B-16-plus-240).
    """

    model: str = DEFAULT_MODEL
    weights: str | None = None
    image_size: int | None = Field(None, ge=16)
    batch_size: int = Field(8, ge=1)

    @field_validator("weights")
    @classmethod
    def _no_implicit_sources(cls, value: str | None) -> str | None:
        if value in ("auto", "scratch", ""):
            raise ValueError(
                "CLIP weights must be a local checkpoint path, or 'random' (tests only); nothing is searched or downloaded"
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


def clip_availability(options: ClipOptions, method_name: str) -> str | None:
    """Why a CLIP method cannot run here (no open_clip, no weights, missing file), or None."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("open_clip") is None:
        return "needs torch and open_clip_torch (pip install open_clip_torch, pinned with torch; see requirements/base.txt)"
    if options.weights is None:
        return (
            f"needs weights: set method_options.{method_name}.weights to a local open_clip checkpoint "
            f"for {options.model} (.safetensors/.pth/.bin file or a directory holding one); "
            "no pretrained CLIP weights exist offline and none are downloaded"
        )
    if options.model.endswith(".json"):
        if not Path(options.model).expanduser().is_file():
            return f"open_clip model config not found: {options.model} (option model)"
    elif not builtin_architecture_exists(options.model):
        return f"unknown open_clip architecture {options.model!r} (option model): not in open_clip's model_configs"
    if options.weights == RANDOM_WEIGHTS:
        return None
    from asebench.components.weights import resolve_weights

    return resolve_weights(options.model, options.weights)[1]


def builtin_architecture_exists(name: str) -> bool:
    """Whether open_clip ships a config for ``name``, found on disk without importing open_clip (torch)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or spec.origin is None:
        return False
    return (Path(spec.origin).parent / "model_configs" / f"{name}.json").is_file()
