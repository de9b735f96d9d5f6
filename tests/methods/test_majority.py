"""``majority``: the most frequent training class, with the training prior as probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from asebench.api.data import Sample
from asebench.api.method import LabeledSplit, UnlabeledSplit, split_view
from asebench.api.registry import METHODS

CLASSES = ("normal", "type1", "type2")


def split_of(labels: list[int], *, labelled: bool = True) -> LabeledSplit | UnlabeledSplit:
    samples = [
        Sample(id=f"s{i}", label=CLASSES[k] if labelled else "", image=np.zeros((4, 4), dtype=np.uint8))
        for i, k in enumerate(labels)
    ]
    return split_view(samples, CLASSES, labels if labelled else None)


@pytest.fixture()
def majority_cls() -> type:
    return METHODS.get("majority")


def test_majority_is_registered_as_a_sanity_baseline(majority_cls: type) -> None:
    assert majority_cls.family == "sanity"
    assert majority_cls.availability(majority_cls.Options()) is None


def test_predicts_the_most_frequent_training_class_with_the_prior(majority_cls: type) -> None:
    method = majority_cls()
    train = split_of([0, 1, 1, 1, 2, 2])
    method.fit(train, split_of([0, 1, 2]))
    predictions = method.predict(split_of([0, 0, 2, 2, 2], labelled=False))
    predictions.validate(5, 3)
    assert predictions.labels.tolist() == [1] * 5
    assert predictions.probabilities is not None
    np.testing.assert_allclose(predictions.probabilities, np.tile([1 / 6, 3 / 6, 2 / 6], (5, 1)))
    np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1.0)


def test_ignores_validation_and_test_labels(majority_cls: type) -> None:
    method = majority_cls()
    method.fit(split_of([2, 2, 2, 0]), split_of([0, 0, 0, 0, 0, 0]))
    assert method.predict(split_of([0, 1], labelled=False)).labels.tolist() == [2, 2]


def test_ties_go_to_the_lowest_class_index(majority_cls: type) -> None:
    method = majority_cls()
    method.fit(split_of([2, 2, 1, 1, 0]), split_of([0]))
    assert method.predict(split_of([0], labelled=False)).labels.tolist() == [1]


def test_a_class_absent_from_training_gets_zero_probability(majority_cls: type) -> None:
    method = majority_cls()
    method.fit(split_of([0, 0, 1]), split_of([2]))
    predictions = method.predict(split_of([2], labelled=False))
    np.testing.assert_allclose(predictions.probabilities, [[2 / 3, 1 / 3, 0.0]])


def test_empty_test_split(majority_cls: type) -> None:
    method = majority_cls()
    method.fit(split_of([0, 1, 1]), split_of([0]))
    predictions = method.predict(split_of([], labelled=False))
    predictions.validate(0, 3)
    assert predictions.labels.shape == (0,)
