"""ASE class statistics cross-fitted: a training image's LLM context never averages in the image itself."""

from __future__ import annotations

import numpy as np
import pytest

from asebench.annotation.out_of_fold import stratified_folds
from asebench.domains.ase.class_statistics import out_of_fold_statistics
from asebench.domains.ase.ocr_reading import OcrReading

CLASS_NAMES = ("normal", "type1", "type2")


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
