"""Running a frozen timm backbone over a split, through the feature cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from asebench.api.data import Sample
from asebench.api.errors import MethodUnavailable
from asebench.api.method import MethodContext, SplitView
from asebench.components.backbones import create_timm_model, preprocessing_for
from asebench.components.feature_cache import FeatureCache, FeatureKey, cache_batch_size
from asebench.components.loaders import ImageDataset, ImagePreparation, Preprocessing, build_transform, make_loader
from asebench.components.weights import WeightsSource, resolve_weights


@dataclass(frozen=True)
class FeatureResult:
    """A split's features, how many the backbone had to compute, and what the record needs to reproduce them."""

    features: np.ndarray
    computed: int
    provenance: dict[str, Any]


@dataclass(frozen=True)
class SpatialOutput:
    """Feature maps of some backbone stages, combined per image by ``combine`` (e.g. PatchCore's patch grid).

    ``recipe`` names what ``combine`` does; it is part of the cache key, so
    change it whenever ``combine`` changes.
    """

    out_indices: tuple[int, ...]
    combine: Callable[[list[torch.Tensor]], torch.Tensor]
    recipe: str

    def key(self) -> str:
        return f"stages {list(self.out_indices)}: {self.recipe}"


def frozen_features(
    model_name: str,
    weights: str,
    image_size: int,
    batch_size: int,
    split: SplitView,
    context: MethodContext,
    spatial: SpatialOutput | None = None,
) -> FeatureResult:
    """Pooled features (or ``spatial`` maps) of every sample of ``split``, cached: the backbone runs only for new ids."""
    source, reason = resolve_weights(model_name, weights, context.allow_download)
    if source is None:
        raise MethodUnavailable(reason or f"cannot resolve weights {weights}")
    preprocessing = preprocessing_for(model_name, image_size)
    sha256 = source.sha256()
    output = "pooled" if spatial is None else spatial.key()
    cache = FeatureCache(
        context.cache_dir,
        FeatureKey(model_name, sha256, preprocessing.as_dict(), split.dataset_fingerprint, output),
    )
    features, computed = cache.get(
        split.samples,
        lambda samples: extract(
            model_name,
            source,
            preprocessing,
            samples,
            cache_batch_size(batch_size, context.device),
            context,
            spatial=spatial,
        ),
        device=context.device,
    )
    provenance = {
        "backbone": model_name,
        "weights": source.kind,
        "weights_description": source.description,
        "weights_path": None if source.path is None else str(source.path),
        "weights_sha256": sha256,
        "preprocessing": preprocessing.as_dict(),
        "feature_cache": cache.path.name,
        **({} if spatial is None else {"feature_output": output}),
    }
    return FeatureResult(features, computed, provenance)


@torch.inference_mode()
def extract(
    model_name: str,
    source: WeightsSource,
    preprocessing: Preprocessing,
    samples: Sequence[Sample],
    batch_size: int,
    context: MethodContext,
    prepare: ImagePreparation | None = None,
    spatial: SpatialOutput | None = None,
) -> np.ndarray:
    """Run the backbone (num_classes=0: pooled features; or ``spatial``) over ``samples``, each through ``prepare``."""
    device = context.device
    stages: dict[str, Any] = {} if spatial is None else {"features_only": True, "out_indices": spatial.out_indices}
    model = create_timm_model(model_name, source, 0, preprocessing.size, **stages).eval().to(device)
    if device.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last)
    loader = make_loader(
        ImageDataset(tuple(samples), None, build_transform(preprocessing, None), prepare),
        batch_size,
        device,
        context.num_workers,
    )
    outputs = []
    for step, (images, _) in enumerate(loader, start=1):
        images = images.to(device, non_blocking=True)
        if device.startswith("cuda"):
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=context.amp):
            result = model(images) if spatial is None else spatial.combine([m.float() for m in model(images)])
            outputs.append(result.float().cpu().numpy())
        context.progress(f"{model_name} features", step, len(loader))
    return np.concatenate(outputs)


def backbone_for_counting(model_name: str, image_size: int, spatial: SpatialOutput | None = None) -> torch.nn.Module:
    """The frozen backbone :func:`frozen_features` runs, randomly initialised: for ``Method.modules()``.

    Methods that read cached features hold no model; the runner's parameter count
    needs only the architecture (the same as the weights' one), never the weights.
    """
    stages: dict[str, Any] = {} if spatial is None else {"features_only": True, "out_indices": spatial.out_indices}
    model = create_timm_model(model_name, WeightsSource("scratch", None, "architecture only"), 0, image_size, **stages)
    return model.eval().requires_grad_(False)
