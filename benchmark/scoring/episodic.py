"""Scoring runner-drawn few-shot episodes: accuracy and macro-F1 per episode, mean and CI over episodes.

The outcomes (truth and prediction per query, per episode) are stored beside
the record, so every episode score here can be recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from asebench.scoring.classification import macro_f1


def mean_with_ci(values: Sequence[float]) -> dict[str, float]:
    """Mean and normal-approximation 95% CI half-width over episodes."""
    array = np.asarray(values, dtype=float)
    half = 1.96 * array.std(ddof=1) / np.sqrt(len(array)) if len(array) > 1 else 0.0
    return {"mean": float(array.mean()), "ci95": float(half)}


def episode_summary(outcomes: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Summary of one K: ``outcomes`` has shape ``(episodes, 2, queries)`` holding (y_true, y_pred)."""
    accuracy = [float(np.mean(pred == truth)) for truth, pred in outcomes]
    f1 = [macro_f1(truth, pred, num_classes) for truth, pred in outcomes]
    return {
        "episodes": len(outcomes),
        "queries_per_class": outcomes.shape[2] // num_classes,
        "accuracy": mean_with_ci(accuracy),
        "macro_f1": mean_with_ci(f1),
    }
