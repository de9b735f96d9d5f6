"""Turning stored predictions into the metrics and tail analysis of one cell.

The runner calls this when a cell finishes; reports can call it again on the
stored predictions, so every number in a table is reproducible from records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix

from asebench.api.data import Task
from asebench.scoring.bootstrap import bootstrap_macro_f1
from asebench.scoring.classification import MACRO_F1_CONVENTION, balanced_accuracy, macro_f1, per_class_scores
from asebench.scoring.tail import TailConfig, tail_report


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
        "bootstrap": asdict(
            bootstrap_macro_f1(y_true, y_pred, k, bootstrap_samples, bootstrap_confidence, bootstrap_seed)
        ),
        "convention": MACRO_F1_CONVENTION,
        "zero_support_classes": [
            name for name, n in zip(class_names, np.bincount(y_true, minlength=k), strict=True) if n == 0
        ],
    }
    if positive_index is not None:
        report["positive_class"] = class_names[positive_index]
        report["positive_f1"] = report["per_class"][positive_index]["f1"]
    return report


def score_cell(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    class_names: Sequence[str],
    task: Task,
    train_counts: Sequence[int],
    tail: TailConfig,
    bootstrap_samples: int,
    bootstrap_seed: int,
    bootstrap_confidence: float = 0.95,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(metrics, tail)`` for one cell's predictions."""
    names = tuple(class_names)
    metrics = classification_report(
        np.asarray(y_true),
        np.asarray(y_pred),
        names,
        bootstrap_samples=bootstrap_samples,
        bootstrap_seed=bootstrap_seed,
        positive_index=1 if task is Task.BINARY else None,
        bootstrap_confidence=bootstrap_confidence,
    )
    for row, count in zip(metrics["per_class"], train_counts, strict=True):
        row["train_count"] = int(count)
    return metrics, tail_report(metrics["per_class"], metrics["confusion_matrix"], list(train_counts), tail)
