"""Cross-fitted class statistics: a training image's LLM context never averages in the image itself."""

from __future__ import annotations

import numpy as np
import pytest

from asebench.methods._annotations import OcrReading
from asebench.methods._annotations.out_of_fold import out_of_fold_statistics, stratified_folds

CLASS_NAMES = ("normal", "type1", "type2")


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


def _reading(value: float) -> OcrReading:
    return OcrReading.from_flat({"count_r05": value, "x_avg": value / 10}, "test", "1")


def test_each_training_image_gets_averages_fitted_without_its_own_fold() -> None:
    labels = np.array([0] * 10 + [1] * 6 + [2] * 4)
    values = np.arange(len(labels), dtype=float) * 3.0
    values[12] = 10_000.0  # an outlier in type1: only images outside its fold may see it
    readings = [_reading(v) for v in values]
    features = [{"spread": float(v)} for v in values]
    folds = stratified_folds(labels, 4, seed=1)
    per_sample = out_of_fold_statistics(readings, labels, CLASS_NAMES, features, 4, seed=1)
    assert len(per_sample) == len(labels)
    for index, statistics in enumerate(per_sample):
        outside = folds != folds[index]
        for label, name in enumerate(CLASS_NAMES):
            members = outside & (labels == label)
            assert statistics.support[name] == int(members.sum())
            assert statistics.ocr_means[name]["count_r05"] == pytest.approx(values[members].mean())
            assert statistics.feature_means[name]["spread"] == pytest.approx(values[members].mean())
    assert per_sample[12].ocr_means["type1"]["count_r05"] < 1_000  # the outlier's own text does not average it in
    same_fold = [i for i in range(len(labels)) if folds[i] == folds[12]]
    assert all(per_sample[i] is per_sample[12] for i in same_fold)  # one fit per fold, shared by its images
