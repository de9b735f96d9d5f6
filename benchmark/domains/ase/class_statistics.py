"""Per-class averages of the OCR numbers and measured features: the LLM's context, training split only.

**Leakage rule.** Class averages come from labels, so :meth:`ClassStatistics.fit`
must be given the readings and labels of the *training split only* (of the
current fold). It cannot check that itself: it uses exactly what it is passed
and nothing else, so a caller that passes validation or test samples leaks
their labels into every text. The stage's ``reason`` phase takes a fitted
``ClassStatistics`` for this reason, and its cache key covers the statistics,
so texts built with another fold's statistics are never reused.
:func:`out_of_fold_statistics` cross-fits the training split's own texts
(:mod:`asebench.annotation.out_of_fold` says why).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asebench.annotation.out_of_fold import out_of_fold
from asebench.domains.ase.ocr_reading import FLAT_KEYS, OcrReading
from asebench.store.hashing import stable_hash


@dataclass(frozen=True)
class ClassStatistics:
    """Per-class means of every OCR number (and optionally of measured image features), training split only.

    ``ocr_means[class][key]`` is the mean over that class's training readings
    that read ``key`` (``None`` when none did); ``feature_means`` does the same
    for the describer's measured features; ``support[class]`` counts the
    training samples of the class.
    """

    class_names: tuple[str, ...]
    ocr_means: Mapping[str, Mapping[str, float | None]]
    feature_means: Mapping[str, Mapping[str, float | None]]
    support: Mapping[str, int]
    # pooled within-class standard deviation per key (training split): the scale on which a
    # difference from a class mean is large or small; None where no class has two values
    ocr_spread: Mapping[str, float | None] = field(default_factory=dict)
    feature_spread: Mapping[str, float | None] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        readings: Sequence[OcrReading],
        labels: Sequence[int] | Sequence[str] | np.ndarray,
        class_names: Sequence[str],
        features: Sequence[Mapping[str, float]] | None = None,
    ) -> ClassStatistics:
        """Means per class of exactly the readings (and features) passed: give it the TRAINING split only.

        ``labels`` are class indices into ``class_names`` (as in
        ``LabeledSplit.labels``) or class names.
        """
        class_names = tuple(class_names)
        if len(readings) != len(labels):
            raise ValueError(f"{len(readings)} readings but {len(labels)} labels")
        if features is not None and len(features) != len(readings):
            raise ValueError(f"{len(features)} feature dicts but {len(readings)} readings")
        names = [_class_name(label, class_names) for label in labels]
        feature_keys = sorted({key for item in features or () for key in item})
        ocr_means: dict[str, dict[str, float | None]] = {}
        feature_means: dict[str, dict[str, float | None]] = {}
        ocr_groups: list[np.ndarray] = []
        feature_groups: list[np.ndarray] = []
        for name in class_names:
            members = [i for i, label in enumerate(names) if label == name]
            ocr_matrix = np.array([readings[i].as_vector(FLAT_KEYS) for i in members]).reshape(
                len(members), len(FLAT_KEYS)
            )
            ocr_means[name] = dict(zip(FLAT_KEYS, _nan_means(ocr_matrix), strict=True))
            ocr_groups.append(ocr_matrix)
            if features is not None:
                rows = [[float(features[i].get(k, math.nan)) for k in feature_keys] for i in members]
                feature_matrix = np.array(rows, dtype=np.float64).reshape(len(members), len(feature_keys))
                feature_means[name] = dict(zip(feature_keys, _nan_means(feature_matrix), strict=True))
                feature_groups.append(feature_matrix)
            else:
                feature_means[name] = {}
        support = {name: names.count(name) for name in class_names}
        ocr_spread = dict(zip(FLAT_KEYS, _pooled_within_std(ocr_groups, len(FLAT_KEYS)), strict=True))
        feature_spread = dict(zip(feature_keys, _pooled_within_std(feature_groups, len(feature_keys)), strict=True))
        return cls(class_names, ocr_means, feature_means, support, ocr_spread, feature_spread)

    def is_empty(self) -> bool:
        """True when no class has a single averaged number (e.g. only empty readings were passed)."""
        return all(value is None for means in self.ocr_means.values() for value in means.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "class_names": list(self.class_names),
            "ocr_means": {c: dict(self.ocr_means[c]) for c in self.class_names},
            "feature_means": {c: dict(self.feature_means[c]) for c in self.class_names},
            "support": {c: int(self.support[c]) for c in self.class_names},
            "ocr_spread": dict(self.ocr_spread),
            "feature_spread": dict(self.feature_spread),
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> ClassStatistics:
        names = tuple(payload["class_names"])
        return cls(
            class_names=names,
            ocr_means={c: dict(payload["ocr_means"][c]) for c in names},
            feature_means={c: dict(payload.get("feature_means", {}).get(c, {})) for c in names},
            support={c: int(payload["support"][c]) for c in names},
            ocr_spread=dict(payload.get("ocr_spread", {})),
            feature_spread=dict(payload.get("feature_spread", {})),
        )

    def fingerprint(self) -> str:
        """Short hash of every mean: part of the LLM cache key, so other folds' statistics never collide."""
        return stable_hash(self.to_json(), length=16)


def _class_name(label: Any, class_names: tuple[str, ...]) -> str:
    if isinstance(label, str):
        if label not in class_names:
            raise ValueError(f"label {label!r} is not one of {list(class_names)}")
        return label
    index = int(label)
    if not 0 <= index < len(class_names):
        raise ValueError(f"label {index} is outside 0..{len(class_names) - 1}")
    return class_names[index]


def _pooled_within_std(groups: Sequence[np.ndarray], width: int) -> list[float | None]:
    """Per column, the square root of the within-class variances averaged over classes (NaN ignored)."""
    spreads: list[float | None] = []
    for column in range(width):
        variances = []
        for group in groups:
            finite = group[:, column][np.isfinite(group[:, column])] if group.size else np.zeros(0)
            if finite.size >= 2:
                variances.append(float(finite.var()))
        spreads.append(math.sqrt(sum(variances) / len(variances)) if variances else None)
    return spreads


def _nan_means(matrix: np.ndarray) -> list[float | None]:
    """Column means ignoring NaN; ``None`` for a column with no value (JSON-safe, unlike NaN)."""
    means: list[float | None] = []
    for column in matrix.T:
        finite = column[np.isfinite(column)]
        means.append(float(finite.mean()) if finite.size else None)
    return means


def out_of_fold_statistics(
    readings: Sequence[OcrReading],
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    features: Sequence[Mapping[str, float]] | None,
    folds: int,
    seed: int,
) -> list[ClassStatistics]:
    """Per training sample, the class statistics fitted on the training samples outside its fold."""
    labels = np.asarray(labels)

    def fit(outside: np.ndarray) -> ClassStatistics:
        return ClassStatistics.fit(
            [readings[i] for i in outside],
            labels[outside],
            class_names,
            features=[features[i] for i in outside] if features is not None else None,
        )

    return out_of_fold(labels, folds, seed, fit)
