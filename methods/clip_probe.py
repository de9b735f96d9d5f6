"""``clip-probe``: logistic regression on frozen open_clip image embeddings.

The linear-probe protocol of ``<model>-probe`` (the shared
:class:`~asebench.components.logistic_head.LogisticHead`: standardised features,
``C`` chosen on validation macro-F1 from ``c_grid``) on CLIP's projected image
embedding. Features go through the shared content-addressed feature cache,
keyed by the open_clip architecture, the checkpoint's sha256 and the pinned
preprocessing (bicubic resize of the whole image, CLIP mean/std), so seeds and
tasks reuse one extraction.

Weights: ``auto`` (open_clip's pretrained checkpoint from the Hugging Face cache,
downloaded with ``--allow-download``) or a local open_clip checkpoint (option
``weights``); without one the method is unavailable. ``weights: random`` (tests only) gives meaningless numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.components.logistic_head import LogisticHead, LogisticHeadOptions
from asebench.methods._clip.options import ClipOptions, clip_availability, uses_random_weights

NAME = "clip-probe"


class ClipProbeOptions(ClipOptions, LogisticHeadOptions):
    """An open_clip image tower under the linear probes' logistic-regression head."""


@register_method(NAME)
class ClipLinearProbe(Method):
    family = "clip-probe"
    version = "1"
    description = "Frozen open_clip image embeddings (cached) + logistic regression, C chosen on validation macro-F1."
    capabilities = Capabilities(needs_training=True, needs_weights=True)
    Options = ClipProbeOptions

    @classmethod
    def availability(cls, options: ClipProbeOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        return clip_availability(options, NAME, allow_download)

    def _features(self, split: SplitView) -> np.ndarray:
        """CLIP embeddings of ``split`` from the feature cache (the model runs only for new ids)."""
        from asebench.methods._clip.model import cached_image_features, load_clip

        options: ClipProbeOptions = self.options  # type: ignore[assignment]
        bundle = load_clip(options, self.context.device, self.context.allow_download)
        features, computed, cache_file = cached_image_features(bundle, split, options.batch_size, self.context)
        self.extraction = {**bundle.provenance, "feature": "projected image embedding", "feature_cache": cache_file}
        self.computed += computed
        return features

    def placeholder_weights(self) -> bool:
        return uses_random_weights(self.options)  # type: ignore[arg-type]

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        self.computed = 0
        self.head = LogisticHead(self.options)  # type: ignore[arg-type]
        self.head.fit(self._features(train), train.labels, self._features(val), val.labels, train.num_classes)

    def predict(self, test: UnlabeledSplit) -> Predictions:
        return self.head.predict(self._features(test), test.num_classes)

    def modules(self) -> list[Any]:
        """The CLIP model (loaded once per process; predict reads its image embeddings from the cache)."""
        from asebench.methods._clip.model import load_clip

        return [load_clip(self.options, self.context.device, self.context.allow_download).model]  # type: ignore[arg-type]

    def provenance(self) -> dict[str, Any]:
        return {**self.extraction, **self.head.selected, "features_computed": self.computed}
