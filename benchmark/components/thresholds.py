"""Decision thresholds for anomaly detectors, shared by every detector that must return normal/defect labels.

Under ``holdout``/``kfold`` the threshold is chosen on the validation split
(:func:`f1_threshold`). Under the ``official`` protocol validation is empty
and holds no defect, so a detector falls back to :func:`normal_quantile_threshold`:
a high quantile of *held-out* scores of its normal training images (each
scored by a model that did not see it), i.e. "defect" = more anomalous than
nearly all normal images. Held-out matters: an image scored against a memory
or statistics that contain it looks far more normal than a new normal image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FALLBACK_RULE = "fallback 0.5: the validation split lacks normal or defective images"


def f1_threshold(is_defect: np.ndarray, scores: np.ndarray) -> dict[str, object]:
    """The decision threshold chosen on validation data: maximise F1 of defect vs normal.

    Rule: a sample is called defective when its score is >= the threshold;
    the candidates are the distinct validation scores; the threshold with the
    highest F1 wins, ties going to the *highest* threshold (fewest false
    alarms). Without both classes in the validation data F1 cannot choose, so
    the threshold falls back to 0.5 (the scores are probability-like) and the
    record says so.
    """
    is_defect = np.asarray(is_defect, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if is_defect.all() or not is_defect.any():
        return {"threshold": 0.5, "val_f1": None, "rule": FALLBACK_RULE}
    best_f1, best_t = -1.0, 0.5
    for t in np.unique(scores)[::-1]:  # descending, so ties keep the highest threshold
        predicted = scores >= t
        tp = int((predicted & is_defect).sum())
        f1 = 2 * tp / (int(predicted.sum()) + int(is_defect.sum()))
        if f1 > best_f1:
            best_f1, best_t = f1, float(t)
    return {
        "threshold": best_t,
        "val_f1": best_f1,
        "rule": "max validation F1 of defect vs normal; defect if score >= threshold; ties -> highest threshold",
    }


def normal_quantile_threshold(held_out_scores: np.ndarray, quantile: float, how: str) -> dict[str, object]:
    """The fallback without usable validation data: the ``quantile`` of held-out normal training scores.

    ``how`` says in the record how the scores were held out.
    """
    scores = np.asarray(held_out_scores, dtype=np.float64)
    return {
        "threshold": float(np.quantile(scores, quantile)),
        "val_f1": None,
        "rule": f"no usable validation split: quantile {quantile} of {len(scores)} held-out normal training scores "
        f"({how}); defect if score >= threshold",
    }


def detector_threshold(
    val_is_defect: np.ndarray,
    val_scores: Callable[[], np.ndarray],
    held_out_scores: Callable[[], tuple[np.ndarray, str]],
    quantile: float,
) -> dict[str, object]:
    """F1 on validation when it has normal and defective images, else the held-out normal quantile.

    Both score sources are callables so that only the one used is computed.
    """
    is_defect = np.asarray(val_is_defect, dtype=bool)
    if is_defect.any() and not is_defect.all():
        return f1_threshold(is_defect, val_scores())
    scores, how = held_out_scores()
    return normal_quantile_threshold(scores, quantile, how)


def cross_fitted_scores(
    count: int, fit_and_score: Callable[[np.ndarray, np.ndarray], np.ndarray], folds: int = 5
) -> np.ndarray:
    """Score each of ``count`` normal images with a detector fitted on the others' folds (leave-one-out if fewer).

    ``fit_and_score(fit_idx, score_idx)`` fits on ``fit_idx`` and returns the
    scores of ``score_idx``. Folds are contiguous blocks of indices.
    """
    scores = np.zeros(count, dtype=np.float64)
    if count < 2:
        return np.full(count, np.inf)  # nothing to fit on: the threshold calls everything normal
    for part in np.array_split(np.arange(count), min(folds, count)):
        rest = np.setdiff1d(np.arange(count), part)
        scores[part] = fit_and_score(rest, part)
    return scores
