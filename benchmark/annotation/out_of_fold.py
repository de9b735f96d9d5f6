"""Out-of-fold fitting for the training split's own LLM texts (cross-fitting).

The LLM text of an image is built with per-class statistics of the training
split. For a *training* image those statistics include the image itself, so
the text can point at its own class more often than it will for a test image:
the classic stacking leakage. A model trained on such texts may trust the LLM
stream more than it deserves at test time, most of all for tail classes,
where one image moves a class mean the most.

Cross-fitting removes that: the training split is cut into ``folds``
class-stratified folds and each training image's statistics are fitted on the
*other* folds only. Validation and test images keep the statistics of the
whole training split, so inference is unchanged. The number of backend calls
is unchanged too (every training image gets its texts once either way).
What is fitted is the domain's business: :func:`out_of_fold` takes a ``fit``
function of the training indices outside a fold.

It is an option of the paper's model (``llm_cross_fit_folds``), off by
default: on ase-synth it did not help (over 21 seeds the full model moved by
-0.016, -0.011 and +0.009 macro-F1 on three sets of splits, none significant).
With about 30 training images in a tail class, one image moves its class mean
little, while fitting on 4/5 of the split makes every training text a little
noisier than the test texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def stratified_folds(labels: Sequence[int] | np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold index in ``0..folds-1`` per sample; each class is shuffled and dealt round-robin over the folds.

    Deterministic in ``seed``; a class with fewer members than folds simply
    leaves some folds without it (no warning, unlike scikit-learn's splitter).
    """
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        # continue the deal where the previous class stopped, so small classes do not all land in fold 0
        assignment[members] = (np.arange(len(members)) + offset) % folds
        offset = (offset + len(members)) % folds
    return assignment


def out_of_fold(labels: Sequence[int] | np.ndarray, folds: int, seed: int, fit: Callable[[np.ndarray], T]) -> list[T]:
    """Per training sample, ``fit(indices)`` over the training samples outside its fold (one fit per fold)."""
    assignment = stratified_folds(labels, folds, seed)
    by_fold = {int(fold): fit(np.flatnonzero(assignment != fold)) for fold in np.unique(assignment)}
    return [by_fold[int(fold)] for fold in assignment]
