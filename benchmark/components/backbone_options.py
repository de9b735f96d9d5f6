"""Options and registration names shared by the timm-backed methods.

Import-light on purpose (pydantic only): plugin modules import it at module
level and ``asebench list`` must not pull in torch.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import Field

from asebench.api.method import MethodOptions

BASELINE_MODELS = (
    "resnet18",
    "resnet50",
    "tf_efficientnet_lite0",
    "convnext_tiny",
    "vit_small_patch16_224",
    "deit_small_patch16_224",
)
# ``image_size`` is the input size of frozen backbones (probes, few-shot features:
# shared through the feature cache); fine-tuning trains at ``finetune_image_size``.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "quick": {"image_size": 128, "finetune_image_size": 96, "epochs": 6},
    "paper": {"image_size": 224, "finetune_image_size": 224, "epochs": 100},
}


class BackboneOptions(MethodOptions):
    """A timm backbone and where its weights come from; ``None`` sizes follow the profile."""

    model: str = "tf_efficientnet_lite0"
    weights: str = "auto"
    image_size: int | None = Field(None, ge=16)
    batch_size: int = Field(32, ge=1)


class PinnedThreadsOptions(MethodOptions):
    """``torch_threads``: the CPU threads a method's torch work uses while it fits and predicts.

    1 (the default) gives the same numbers on any core count and under any
    executor (float sums split over threads round differently): what
    ``Capabilities.thread_invariant`` claims, which lets the process executor
    run two such cells side by side. For small networks one thread is also the
    fastest. Apply it with :func:`on_pinned_threads`.
    """

    torch_threads: int | None = Field(
        1,
        ge=1,
        description="CPU threads while the method fits and predicts (1: the same numbers on any core count and "
        "executor; None leaves torch's setting; no effect on CUDA kernels)",
    )


Step = TypeVar("Step", bound=Callable[..., Any])


def on_pinned_threads(step: Step) -> Step:
    """Decorate a method's ``fit`` or ``predict`` to run with its options' ``torch_threads`` (torch loads lazily)."""

    @functools.wraps(step)
    def pinned(self: Any, *args: Any, **kwargs: Any) -> Any:
        from asebench.components.training import torch_threads

        with torch_threads(self.options.torch_threads):
            return step(self, *args, **kwargs)

    return pinned  # type: ignore[return-value]


def profile_setting(options: MethodOptions, profile: str, name: str, profile_key: str | None = None) -> Any:
    """An option's value, or the profile's default (``profile_key``, default ``name``) when it is None."""
    value = getattr(options, name)
    return PROFILE_DEFAULTS[profile][profile_key or name] if value is None else value


def backbone_availability(options: BackboneOptions, allow_download: bool = False) -> str | None:
    """Why a timm backbone cannot be built here, or None (``allow_download``: missing weights are fetched now)."""
    if importlib.util.find_spec("timm") is None or importlib.util.find_spec("torch") is None:
        return "needs torch and timm (pip install 'asebench[vision]')"
    from asebench.components.weights import resolve_weights

    return resolve_weights(options.model, options.weights, allow_download)[1]
