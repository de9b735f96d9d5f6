"""Classification metrics, always computed from stored predictions.

Conventions (written into every record, see ``anchors.md`` §2):

* macro-F1 averages over the task's *full* class list, in the adapter's order,
  with ``zero_division=0``: a class absent from both truth and prediction
  counts as F1 = 0 instead of silently vanishing from the average.
* balanced accuracy is the mean recall over classes present in the truth
  (scikit-learn's definition).
* the bootstrap CI resamples test samples with replacement (seeded), giving the
  uncertainty of one cell; seed-to-seed variance is reported separately.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

MACRO_F1_CONVENTION = "sklearn f1_score(average='macro', labels=all task classes, zero_division=0)"


@dataclass(frozen=True)
class ClassScore:
    """Precision, recall, F1 and support of one class."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile bootstrap interval of macro-F1 over test samples."""

    low: float | None
    high: float | None
    confidence: float
    samples: int
    seed: int


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Macro-F1 over classes ``0..num_classes-1``; absent classes count as 0."""
    return float(f1_score(y_true, y_pred, labels=list(range(num_classes)), average="macro", zero_division=0))


def per_class_scores(y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...]) -> list[ClassScore]:
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(class_names))), average=None, zero_division=0
    )
    return [
        ClassScore(name, float(p), float(r), float(f), int(s))
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support, strict=True)
    ]


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Mean recall over the classes that occur in ``y_true``."""
    recalls = [float(np.mean(y_pred[y_true == k] == k)) for k in range(num_classes) if np.any(y_true == k)]
    return float(np.mean(recalls)) if recalls else 0.0


def bootstrap_macro_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    num_classes: int,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Percentile CI of macro-F1 from ``samples`` resamples of the test set."""
    n = len(y_true)
    if n == 0 or samples <= 0:
        return BootstrapInterval(None, None, confidence, 0, seed)
    rng = np.random.default_rng(seed)
    labels = np.arange(num_classes)
    scores = np.empty(samples)
    for b in range(samples):
        index = rng.integers(0, n, size=n)
        scores[b] = _fast_macro_f1(y_true[index], y_pred[index], labels)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(scores, [alpha, 1.0 - alpha])
    return BootstrapInterval(float(low), float(high), confidence, samples, seed)


def fast_macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """:func:`macro_f1` without sklearn's per-call overhead, for loops over episodes."""
    return _fast_macro_f1(np.asarray(y_true), np.asarray(y_pred), np.arange(num_classes))


def _fast_macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> float:
    """Same value as :func:`macro_f1`, vectorised for the bootstrap loop."""
    tp = np.bincount(y_true[y_true == y_pred], minlength=len(labels)).astype(float)
    true_count = np.bincount(y_true, minlength=len(labels))
    pred_count = np.bincount(y_pred, minlength=len(labels))
    denominator = true_count + pred_count
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1.mean())


def classification_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: tuple[str, ...],
    bootstrap_samples: int = 1000,
    bootstrap_seed: int = 0,
    positive_index: int | None = None,
    bootstrap_confidence: float = 0.95,
) -> dict[str, Any]:
    """Every metric of one cell as plain JSON-ready data.

    ``positive_index`` (binary task: the defect class) adds the positive-class
    F1, stored separately from the headline macro-F1.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(class_names)
    report: dict[str, Any] = {
        "macro_f1": macro_f1(y_true, y_pred, k),
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "balanced_accuracy": balanced_accuracy(y_true, y_pred, k),
        "per_class": [asdict(score) for score in per_class_scores(y_true, y_pred, class_names)],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(range(k))).tolist(),
        "bootstrap": asdict(bootstrap_macro_f1(y_true, y_pred, k, bootstrap_samples, bootstrap_confidence, bootstrap_seed)),
        "convention": MACRO_F1_CONVENTION,
        "zero_support_classes": [name for name, n in zip(class_names, np.bincount(y_true, minlength=k)) if n == 0],
    }
    if positive_index is not None:
        report["positive_class"] = class_names[positive_index]
        report["positive_f1"] = float(
            f1_score(y_true, y_pred, labels=[positive_index], average="macro", zero_division=0)
        )
    return report
