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
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

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


def macro_f1_rows(y_true: np.ndarray, y_pred: np.ndarray, index: np.ndarray, num_classes: int) -> np.ndarray:
    """Macro-F1 of the samples picked by every row of ``index`` (shape ``(B, n)``): the one macro-F1.

    Every macro-F1 of the package is this kernel: a cell's headline score (one
    row, the identity), each bootstrap replicate and each episode. Per class,
    F1 = 2 tp / (n_true + n_pred), 0 when the class is in neither truth nor
    prediction, then the plain mean over all ``num_classes`` classes. That is
    scikit-learn's formula term by term (``(1 + beta**2) tp / (beta**2 n_true +
    n_pred)`` with the same numpy mean), so the results are equal to the last
    bit, which the tests check against the committed records.
    """
    rows = index.shape[0]
    offsets = (np.arange(rows) * num_classes)[:, None]
    truth = y_true[index] + offsets
    pred = y_pred[index] + offsets
    size = rows * num_classes
    tp = np.bincount(truth[truth == pred], minlength=size).reshape(rows, num_classes).astype(float)
    true_count = np.bincount(truth.ravel(), minlength=size).reshape(rows, num_classes)
    pred_count = np.bincount(pred.ravel(), minlength=size).reshape(rows, num_classes)
    denominator = (true_count + pred_count).astype(float)
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1.mean(axis=1)


def class_indices(values: Sequence[int] | np.ndarray, num_classes: int) -> np.ndarray:
    """``values`` as an int64 array, refused when a label lies outside ``0..num_classes-1``.

    The kernel counts by offsetting labels per row, so an out-of-range label
    would land in another row's class instead of failing.
    """
    array = np.asarray(values, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(f"class indices must lie in 0..{num_classes - 1}; got {array.min()}..{array.max()}")
    return array


def macro_f1(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int) -> float:
    """Macro-F1 over classes ``0..num_classes-1``; absent classes count as 0 (see :func:`macro_f1_rows`)."""
    truth, pred = class_indices(y_true, num_classes), class_indices(y_pred, num_classes)
    if len(truth) == 0 or len(truth) != len(pred):
        raise ValueError(f"macro_f1 needs equally long, non-empty labels; got {len(truth)} and {len(pred)}")
    return float(macro_f1_rows(truth, pred, np.arange(len(truth))[None, :], num_classes)[0])


# Kept for the importers other work is moving now (``run/cell.py``, ``methods/_vlm_llm/training.py``);
# the same function as :func:`macro_f1`. Replace those imports with ``macro_f1`` and delete this line.
fast_macro_f1 = macro_f1


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
    scores = np.empty(samples)
    for b in range(samples):
        index = rng.integers(0, n, size=n)
        scores[b] = macro_f1_rows(y_true, y_pred, index[None, :], num_classes)[0]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(scores, [alpha, 1.0 - alpha])
    return BootstrapInterval(float(low), float(high), confidence, samples, seed)


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
        report["positive_f1"] = report["per_class"][positive_index]["f1"]
    return report
