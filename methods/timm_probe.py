"""Linear probes: frozen timm features + logistic regression.

Registered as ``<model>-probe`` for every baseline model. Features come from
the content-addressed feature cache, so the backbone runs once per dataset,
weights and preprocessing, whatever the number of seeds or probe methods.
The head is :class:`asebench.components.logistic_head.LogisticHead`:
``C`` chosen on the validation split by macro-F1 from ``c_grid``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.components.backbone_options import (
    BASELINE_MODELS,
    BackboneOptions,
    backbone_availability,
    profile_setting,
)
from asebench.components.logistic_head import LogisticHead, LogisticHeadOptions


class ProbeOptions(BackboneOptions, LogisticHeadOptions):
    """A frozen timm backbone under the logistic-regression head."""


class TimmLinearProbe(Method):
    family = "vision-probe"
    version = "1"
    description = "Frozen timm features (cached) + logistic regression, C chosen on validation macro-F1."
    capabilities = Capabilities(needs_training=True, needs_weights=True, thread_invariant=True)
    Options = ProbeOptions

    @classmethod
    def availability(cls, options: ProbeOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        return backbone_availability(options, allow_download)

    def _features(self, split: SplitView) -> np.ndarray:
        from asebench.components.extraction import frozen_features

        options: ProbeOptions = self.options  # type: ignore[assignment]
        size = profile_setting(options, self.context.profile, "image_size")
        result = frozen_features(options.model, options.weights, size, options.batch_size, split, self.context)
        self.extraction = result.provenance
        self.computed += result.computed
        return result.features

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        self.computed = 0
        self.head = LogisticHead(self.options)  # type: ignore[arg-type]
        self.head.fit(self._features(train), train.labels, self._features(val), val.labels, train.num_classes)

    def predict(self, test: UnlabeledSplit) -> Predictions:
        return self.head.predict(self._features(test), test.num_classes)

    def modules(self) -> list[Any]:
        """The frozen backbone (built for counting: predict reads its features from the cache)."""
        from asebench.components.extraction import backbone_for_counting

        options: ProbeOptions = self.options  # type: ignore[assignment]
        return [backbone_for_counting(options.model, profile_setting(options, self.context.profile, "image_size"))]

    def provenance(self) -> dict[str, Any]:
        return {**self.extraction, **self.head.selected, "features_computed": self.computed}


for _model in BASELINE_MODELS:
    register_method(f"{_model}-probe", model=_model, weights="auto")(TimmLinearProbe)
