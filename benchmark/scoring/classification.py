"""Classification metrics, always computed from stored predictions.

Conventions (written into every record):

* macro-F1 averages over the task's *full* class list, in the adapter's order,
  with ``zero_division=0``: a class absent from both truth and prediction
  counts as F1 = 0 instead of silently vanishing from the average.
* balanced accuracy is the mean recall over classes present in the truth
  (scikit-learn's definition).
* the bootstrap CI of a cell lives in :mod:`asebench.scoring.bootstrap`; the
  record of a cell is put together in :mod:`asebench.scoring.cell`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

MACRO_F1_CONVENTION = "sklearn f1_score(average='macro', labels=all task classes, zero_division=0)"

Labels: TypeAlias = "Sequence[int] | np.ndarray"  # class indices, as stored (lists) or as arrays


@dataclass(frozen=True)
class ClassScore:
    """Precision, recall, F1 and support of one class."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


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
    means: np.ndarray = f1.mean(axis=1)
    return means


def class_indices(values: Labels, num_classes: int) -> np.ndarray:
    """``values`` as an int64 array, refused when a label lies outside ``0..num_classes-1``.

    The kernel counts by offsetting labels per row, so an out-of-range label
    would land in another row's class instead of failing.
    """
    array = np.asarray(values, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(f"class indices must lie in 0..{num_classes - 1}; got {array.min()}..{array.max()}")
    return array


def macro_f1(y_true: Labels, y_pred: Labels, num_classes: int) -> float:
    """Macro-F1 over classes ``0..num_classes-1``; absent classes count as 0 (see :func:`macro_f1_rows`)."""
    truth, pred = class_indices(y_true, num_classes), class_indices(y_pred, num_classes)
    if len(truth) == 0 or len(truth) != len(pred):
        raise ValueError(f"macro_f1 needs equally long, non-empty labels; got {len(truth)} and {len(pred)}")
    return float(macro_f1_rows(truth, pred, np.arange(len(truth))[None, :], num_classes)[0])


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
