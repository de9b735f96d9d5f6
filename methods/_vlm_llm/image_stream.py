"""The image stream's frozen CNN features, plain and under TDA's photometric views.

Plain features go through the shared feature cache, so the model reuses the
features a ``<backbone>-probe`` run already computed at the same size. TDA
views (our defaults, ``docs/paper-model-defaults.md``, "Task-specific Data
Augmentation (TDA)": brightness and contrast jitter, light Gaussian noise, JPEG
re-encoding; no geometry, because position and direction carry the defect type
on ASE plots) are rendered deterministically from the sample id
and view number and cached under a key that includes the policy, so every
seed and variant shares them.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

from asebench.api.data import Sample
from asebench.api.errors import MethodUnavailable
from asebench.api.method import MethodContext, SplitView
from asebench.methods._vlm_llm.options import IMAGE_SIZE_BY_PROFILE, StreamInputOptions, VlmLlmOptions

VIEW_SEPARATOR = "@tda"


@dataclass(frozen=True)
class PhotometricPolicy:
    brightness: float
    contrast: float
    noise_std: float
    jpeg_quality: tuple[int, int]

    @classmethod
    def from_options(cls, options: VlmLlmOptions) -> PhotometricPolicy:
        low, high = options.tda_jpeg_quality
        return cls(options.tda_brightness, options.tda_contrast, options.tda_noise_std, (low, high))

    def __call__(self, sample: Sample, image: Image.Image) -> Image.Image:
        """The view named by ``sample.id``; equal ids give equal pixels on every machine."""
        seed = int.from_bytes(hashlib.sha256(sample.id.encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        pixels = pixels * rng.uniform(1 - self.brightness, 1 + self.brightness)
        mean = pixels.mean()
        pixels = (pixels - mean) * rng.uniform(1 - self.contrast, 1 + self.contrast) + mean
        if self.noise_std > 0:
            pixels = pixels + rng.normal(0.0, self.noise_std, size=pixels.shape)
        rendered = Image.fromarray((np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
        buffer = io.BytesIO()
        rendered.save(buffer, format="JPEG", quality=int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        buffer.seek(0)
        return Image.open(buffer).convert("RGB")


def image_size(options: StreamInputOptions, profile: str) -> int:
    return options.image_size or IMAGE_SIZE_BY_PROFILE[profile]


def plain_features(
    options: StreamInputOptions, split: SplitView, context: MethodContext
) -> tuple[np.ndarray, int, dict[str, Any]]:
    """(features, how many the backbone computed, provenance) through the shared feature cache."""
    from asebench.components.extraction import frozen_features

    size = image_size(options, context.profile)
    result = frozen_features(
        options.backbone, options.backbone_weights, size, options.feature_batch_size, split, context
    )
    return result.features, result.computed, result.provenance


def view_features(options: VlmLlmOptions, split: SplitView, context: MethodContext) -> tuple[np.ndarray, int]:
    """(samples, views, dim) features of TDA's augmented views, and how many the backbone computed."""
    from asebench.components.backbones import preprocessing_for
    from asebench.components.extraction import extract
    from asebench.components.feature_cache import FeatureCache, FeatureKey, cache_batch_size
    from asebench.components.weights import resolve_weights

    source, reason = resolve_weights(options.backbone, options.backbone_weights, context.allow_download)
    if source is None:
        raise MethodUnavailable(reason or f"cannot resolve weights {options.backbone_weights}")
    policy = PhotometricPolicy.from_options(options)
    preprocessing = preprocessing_for(options.backbone, image_size(options, context.profile))
    key = FeatureKey(
        options.backbone,
        source.sha256(),
        {**preprocessing.as_dict(), "tda": asdict(policy)},
        split.dataset_fingerprint,
    )
    views = [
        Sample(id=f"{sample.id}{VIEW_SEPARATOR}{view}", label=sample.label, image=sample.image)
        for sample in split.samples
        for view in range(options.tda_views)
    ]
    features, computed = FeatureCache(context.cache_dir, key).get(
        views,
        lambda missing: extract(
            options.backbone,
            source,
            preprocessing,
            missing,
            cache_batch_size(options.feature_batch_size, context.device),
            context,
            policy,
        ),
        device=context.device,
    )
    return features.reshape(len(split), options.tda_views, -1), computed
