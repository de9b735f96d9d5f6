"""Cross-fitting: stratified folds, and one fit per fold that a training sample's own fold never enters."""

from __future__ import annotations

import numpy as np
import pytest

from asebench.annotation.out_of_fold import out_of_fold, stratified_folds


def test_folds_are_stratified_balanced_and_seeded() -> None:
    labels = np.array([0] * 10 + [1] * 7 + [2] * 3)
    folds = stratified_folds(labels, 5, seed=3)
    assert sorted(set(folds.tolist())) == [0, 1, 2, 3, 4]
    assert np.bincount(folds).tolist() == [4, 4, 4, 4, 4]  # the deal continues across classes
    for label in range(3):
        per_fold = np.bincount(folds[labels == label], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1
    assert np.array_equal(folds, stratified_folds(labels, 5, seed=3))
    assert not np.array_equal(folds, stratified_folds(labels, 5, seed=4))


def test_a_class_smaller_than_the_fold_count_is_fine() -> None:
    folds = stratified_folds(np.array([0, 0, 0, 0, 0, 0, 1]), 5, seed=0)
    assert len(folds) == 7 and set(folds.tolist()) <= set(range(5))


@pytest.mark.parametrize("folds", [0, 1])
def test_fewer_than_two_folds_is_an_error(folds: int) -> None:
    with pytest.raises(ValueError, match="at least 2 folds"):
        stratified_folds(np.array([0, 1]), folds, seed=0)


def test_out_of_fold_fits_once_per_fold_on_the_other_folds_only() -> None:
    labels = np.array([0] * 6 + [1] * 4)
    folds = stratified_folds(labels, 3, seed=2)
    fitted: list[tuple[int, ...]] = []

    def fit(outside: np.ndarray) -> tuple[int, ...]:
        fitted.append(tuple(outside.tolist()))
        return fitted[-1]

    per_sample = out_of_fold(labels, 3, seed=2, fit=fit)
    assert len(fitted) == 3 and len(per_sample) == len(labels)
    for index, outside in enumerate(per_sample):
        assert index not in outside
        assert set(outside) == {i for i in range(len(labels)) if folds[i] != folds[index]}
