"""Turning stored predictions into the metrics and tail analysis of one cell.

The runner calls this when a cell finishes; reports can call it again on the
stored predictions, so every number in a table is reproducible from records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from asebench.api.data import Task
from asebench.scoring.classification import classification_report
from asebench.scoring.tail import TailConfig, tail_report


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
