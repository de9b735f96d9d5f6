"""The logistic-regression head the linear probes share, as a part to compose.

Standardised features under a logistic regression whose ``C`` is chosen from
``c_grid`` by macro-F1 on the validation split (the first best ``C`` wins a
tie). The timm and CLIP probes, the OCR-numbers floor and the paper model's
linear control all use it, so they follow one protocol.

Import-light (pydantic and numpy): plugin modules import the options at module
level; scikit-learn is imported only when a head is fitted.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from asebench.api.method import MethodOptions, Predictions


class LogisticHeadOptions(MethodOptions):
    """The logistic-regression head every linear probe shares: ``C`` from ``c_grid`` by validation macro-F1."""

    c_grid: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0])
    class_weight: Literal["balanced", "none"] = "balanced"
    max_iter: int = Field(2000, ge=10)


class LogisticHead:
    """Fit one pipeline per ``C`` of the grid, keep the best on validation, predict with it.

    ``impute_missing`` puts a median imputer with missing-value indicators in
    front of the scaler, for features that may be NaN (numbers OCR did not read).
    """

    def __init__(self, options: LogisticHeadOptions, impute_missing: bool = False) -> None:
        self.options = options
        self.impute_missing = impute_missing
        self.classifier: Any = None
        self.selected: dict[str, float] = {}

    def fit(
        self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, num_classes: int
    ) -> None:
        """Model selection on validation only; ``selected`` holds the chosen ``C`` and its validation macro-F1."""
        from asebench.scoring.classification import macro_f1

        class_weight = None if self.options.class_weight == "none" else "balanced"
        best: tuple[float, float] | None = None
        for c in self.options.c_grid:
            candidate = self._pipeline(c, class_weight).fit(x_train, y_train)
            score = macro_f1(y_val, candidate.predict(x_val), num_classes)
            if best is None or score > best[0]:
                best, self.classifier = (score, c), candidate
        self.selected = {"C": best[1], "val_macro_f1": best[0]} if best else {}

    def predict(self, x: np.ndarray, num_classes: int) -> Predictions:
        """Probabilities with one column per class of the task (0 for a class absent from training), argmax labels."""
        probabilities = np.zeros((len(x), num_classes))
        probabilities[:, self.classifier.classes_] = self.classifier.predict_proba(x)
        return Predictions.from_probabilities(probabilities)

    def _pipeline(self, c: float, class_weight: str | None) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        steps: list[Any] = []
        if self.impute_missing:
            from sklearn.impute import SimpleImputer

            steps.append(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))
        return make_pipeline(
            *steps, StandardScaler(), LogisticRegression(C=c, class_weight=class_weight, max_iter=self.options.max_iter)
        )
