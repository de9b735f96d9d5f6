"""``ocr-numbers-only``: a small classifier on the numbers OCR reads off the image, nothing else.

The floor of the paper's OCR stream (and close to the sibling OANet paper's
numeric branch): the ten per-annulus point counts (log1p) and the four printed
statistics, median-imputed with missing-value indicators, standardised, then
the probes' logistic-regression head (``C`` chosen on validation macro-F1). On
images that print no numbers (NEU-DET) the cell is skipped with that reason
rather than scored as a constant predictor. The numbers read are returned with
the predictions, so the OCR accuracy against a dataset's ground truth is scored
too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from asebench.api.errors import MethodUnavailable
from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.components.logistic_head import LogisticHead, LogisticHeadOptions


class OcrNumbersOptions(LogisticHeadOptions):
    ocr: str = Field("rapidocr", description="rapidocr | tesseract | metadata (numbers shipped with the dataset)")
    ocr_options: dict[str, object] = Field(default_factory=dict, description="engine arguments, e.g. {region: full}")


@register_method("ocr-numbers-only")
class OcrNumbersOnly(Method):
    family = "numbers"
    version = "1"
    description = "Logistic regression on the OCR-read radius counts and X/Y statistics alone."
    capabilities = Capabilities(needs_training=True, needs_text=True, thread_invariant=True)
    Options = OcrNumbersOptions

    @classmethod
    def availability(cls, options: OcrNumbersOptions) -> str | None:  # type: ignore[override]
        from asebench.domains.ase.annotation import make_ocr_engine

        reason = make_ocr_engine(options.ocr, options.ocr_options).availability()
        return f"OCR engine {options.ocr!r}: {reason}" if reason else None

    def _readings(self, split: SplitView) -> list[Any]:
        """The split's OCR readings, read (or fetched from the cache) once per split."""
        from pathlib import Path

        from asebench.annotation import AnnotationCache, AnnotationStats
        from asebench.domains.ase.annotation import make_ocr_engine, read_numbers

        if not hasattr(self, "engine"):
            options: OcrNumbersOptions = self.options  # type: ignore[assignment]
            self.engine = make_ocr_engine(options.ocr, options.ocr_options)
            self.cache = AnnotationCache(Path(self.context.cache_dir) / "annotations")
            self.stats = AnnotationStats()
            self.read: dict[tuple[str, ...], list[Any]] = {}
        key = tuple(split.ids)
        if key not in self.read:
            self.read[key] = read_numbers(
                split.samples, self.engine, self.cache, self.context.progress, stats=self.stats
            )
        return self.read[key]

    def _features(self, split: SplitView) -> np.ndarray:
        from asebench.domains.ase.ocr_reading import COUNT_KEYS, FLAT_KEYS

        vectors = np.stack([reading.as_vector(FLAT_KEYS) for reading in self._readings(split)])
        counts = [FLAT_KEYS.index(key) for key in COUNT_KEYS]
        vectors[:, counts] = np.log1p(vectors[:, counts])
        return vectors

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        x_train = self._features(train)
        if np.isnan(x_train).all():
            raise MethodUnavailable(
                f"OCR ({self.options.ocr}) read no numbers from any training image of {train.dataset_name}: "  # type: ignore[attr-defined]
                "its images print no radius table or statistics"
            )
        self.head = LogisticHead(self.options, impute_missing=True)  # type: ignore[arg-type]
        self.head.fit(x_train, train.labels, self._features(val), val.labels, train.num_classes)

    def predict(self, test: UnlabeledSplit) -> Predictions:
        from asebench.domains.ase.ocr_reading import FLAT_KEYS

        predictions = self.head.predict(self._features(test), test.num_classes)
        readings = self._readings(test)
        values = {key: np.array([r.as_vector([key])[0] for r in readings], dtype=float) for key in FLAT_KEYS}
        return Predictions(labels=predictions.labels, probabilities=predictions.probabilities, readings=values)

    def provenance(self) -> dict[str, Any]:
        from asebench.annotation import engine_provenance

        return {"ocr": engine_provenance(self.engine), **self.head.selected, "annotation": self.stats.as_dict()}
