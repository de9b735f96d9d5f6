"""What the few-shot networks read per sample: cached frozen features, or small images.

The runner calls ``predict_episode`` hundreds of times on samples the method
has already seen in ``fit``/``predict``; an :class:`InputStore` keeps every
sample's input in memory by id, so an episode is a dictionary look-up rather
than a read of the on-disk feature cache. New ids (never the case in a normal
run) go through the content-addressed feature cache like any other.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from asebench.api.method import MethodContext, SplitView


class InputStore:
    """Per-sample network inputs by id: ``timm`` pooled features or ``conv4`` images.

    ``timm``: features of ``model``/``weights`` at ``image_size`` from the
    shared feature cache (the backbone runs once per dataset and weights).
    ``conv4``: the image resized to ``image_size`` and normalised with the
    ImageNet mean/std, as a ``(3, size, size)`` array.
    """

    def __init__(
        self,
        kind: str,
        context: MethodContext,
        image_size: int,
        model: str = "",
        weights: str = "",
        batch_size: int = 32,
    ) -> None:
        self.kind = kind
        self.context = context
        self.image_size = image_size
        self.model = model
        self.weights = weights
        self.batch_size = batch_size
        self.rows: dict[str, np.ndarray] = {}
        self.computed = 0
        self.extraction: dict[str, Any] = {}

    def get(self, split: SplitView) -> np.ndarray:
        """Inputs of every sample of ``split``, in order (float32)."""
        missing = list({s.id: s for s in split.samples if s.id not in self.rows}.values())
        if missing:
            view = SplitView(
                **{f.name: getattr(split, f.name) for f in fields(SplitView) if f.name != "samples"},
                samples=tuple(missing),
            )
            values = self._features(view) if self.kind == "timm" else self._images(view)
            self.rows.update({sample.id: row for sample, row in zip(missing, values, strict=True)})
        if not split.samples:
            return np.zeros((0,), dtype=np.float32)
        return np.stack([self.rows[sample.id] for sample in split.samples]).astype(np.float32, copy=False)

    def _features(self, view: SplitView) -> np.ndarray:
        from asebench.components.extraction import frozen_features

        result = frozen_features(self.model, self.weights, self.image_size, self.batch_size, view, self.context)
        self.extraction = result.provenance
        self.computed += result.computed
        return result.features

    def _images(self, view: SplitView) -> np.ndarray:
        from asebench.api.imaging import load_image
        from asebench.components.loaders import Preprocessing, build_transform

        preprocessing = Preprocessing(size=self.image_size)
        transform = build_transform(preprocessing, None)
        self.extraction = {"backbone": "conv4", "weights": "scratch", "preprocessing": preprocessing.as_dict()}
        images = [transform(load_image(sample)).numpy() for sample in view.samples]
        self.computed += len(images)
        return np.stack(images)

    def provenance(self) -> dict[str, Any]:
        key = "features_computed" if self.kind == "timm" else "images_loaded"
        return {**self.extraction, key: self.computed}
