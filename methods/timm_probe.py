"""Linear probes: frozen timm features + logistic regression.

Registered as ``<model>-probe`` for every baseline model. Features come from
the content-addressed feature cache, so the backbone runs once per dataset,
weights and preprocessing, whatever the number of seeds or probe methods.
The regularisation strength ``C`` is chosen on the validation split by
macro-F1 from ``c_grid``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from asebench.api.method import (
    Capabilities,
    LabeledSplit,
    Method,
    MethodOptions,
    Predictions,
    SplitView,
    UnlabeledSplit,
)
from asebench.api.registry import register_method
from asebench.components.backbone_options import BASELINE_MODELS, BackboneOptions, backbone_availability, profile_setting


class LogisticHeadOptions(MethodOptions):
    """The logistic-regression head every linear probe shares: ``C`` from ``c_grid`` by validation macro-F1."""

    c_grid: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0])
    class_weight: Literal["balanced", "none"] = "balanced"
    max_iter: int = Field(2000, ge=10)


class ProbeOptions(BackboneOptions, LogisticHeadOptions):
    """A frozen timm backbone under the logistic-regression head."""


class TimmLinearProbe(Method):
    family = "vision-probe"
    version = "1"
    description = "Frozen timm features (cached) + logistic regression, C chosen on validation macro-F1."
    capabilities = Capabilities(needs_training=True, needs_weights=True)
    Options = ProbeOptions

    @classmethod
    def availability(cls, options: ProbeOptions) -> str | None:  # type: ignore[override]
        return backbone_availability(options)

    def _features(self, split: SplitView) -> np.ndarray:
        from asebench.components.extraction import frozen_features

        options: ProbeOptions = self.options  # type: ignore[assignment]
        size = profile_setting(options, self.context.profile, "image_size")
        result = frozen_features(options.model, options.weights, size, options.batch_size, split, self.context)
        self.extraction = result.provenance
        self.computed += result.computed
        return result.features

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        from asebench.scoring.classification import macro_f1

        options: ProbeOptions = self.options  # type: ignore[assignment]
        self.computed = 0
        x_train, x_val = self._features(train), self._features(val)
        weight = None if options.class_weight == "none" else "balanced"
        best: tuple[float, float] | None = None
        for c in options.c_grid:  # model selection on validation only
            candidate = self._classifier(c, weight, options.max_iter).fit(x_train, train.labels)
            score = macro_f1(val.labels, candidate.predict(x_val), train.num_classes)
            if best is None or score > best[0]:
                best, self.classifier = (score, c), candidate
        self.selected = {"C": best[1], "val_macro_f1": best[0]} if best else {}

    @staticmethod
    def _classifier(c: float, class_weight: str | None, max_iter: int) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight=class_weight, max_iter=max_iter))

    def predict(self, test: UnlabeledSplit) -> Predictions:
        x_test = self._features(test)
        probabilities = np.zeros((len(test), test.num_classes))
        probabilities[:, self.classifier.classes_] = self.classifier.predict_proba(x_test)
        return Predictions.from_probabilities(probabilities)

    def provenance(self) -> dict[str, Any]:
        return {**self.extraction, **self.selected, "features_computed": self.computed}


for _model in BASELINE_MODELS:
    register_method(f"{_model}-probe", model=_model, weights="auto")(TimmLinearProbe)
