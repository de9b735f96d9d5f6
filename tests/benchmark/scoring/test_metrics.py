"""Metrics of one cell, checked against scikit-learn as the oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from asebench.api.data import Task
from asebench.scoring.bootstrap import bootstrap_macro_f1
from asebench.scoring.cell import classification_report, score_cell
from asebench.scoring.classification import (
    MACRO_F1_CONVENTION,
    balanced_accuracy,
    macro_f1,
    macro_f1_rows,
    per_class_scores,
)
from asebench.scoring.tail import TailConfig

# -- helpers -------------------------------------------------------------------


def random_case(seed: int, k: int, n: int, imbalanced: bool = False, noise: float = 0.4):
    """Random labels (optionally with ASE-like imbalance) and noisy predictions."""
    rng = np.random.default_rng(seed)
    if imbalanced:
        weights = np.array([225, 92, 44, 50, 44, 10, 3, 1][:k], dtype=float)
        weights = weights / weights.sum()
    else:
        weights = np.full(k, 1.0 / k)
    y_true = rng.choice(k, size=n, p=weights)
    y_pred = y_true.copy()
    flip = rng.random(n) < noise
    y_pred[flip] = rng.integers(0, k, size=int(flip.sum()))
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def sk_macro(y_true, y_pred, k):
    return f1_score(y_true, y_pred, labels=list(range(k)), average="macro", zero_division=0)


CASES = [
    (seed, k, n, imb)
    for seed in range(12)
    for k, n, imb in ((2, 40, False), (5, 90, True), (7, 25, True), (3, 7, False))
]


# -- macro-F1 -----------------------------------------------------------------


@pytest.mark.parametrize(("seed", "k", "n", "imbalanced"), CASES)
def test_macro_f1_matches_sklearn(seed, k, n, imbalanced):
    y_true, y_pred = random_case(seed, k, n, imbalanced)
    assert macro_f1(y_true, y_pred, k) == pytest.approx(sk_macro(y_true, y_pred, k), abs=1e-12)


def random_labels_with_absent_classes(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Random k, n and labels drawn from a random subset of the classes, so some classes are absent."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 12))
    n = int(rng.integers(1, 120))
    present = rng.choice(k, size=int(rng.integers(1, k + 1)), replace=False)
    y_true = rng.choice(present, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(present if rng.random() < 0.5 else np.arange(k), size=n))
    return y_true.astype(np.int64), y_pred.astype(np.int64), k


@pytest.mark.parametrize("seed", range(200))
def test_macro_f1_equals_sklearn_to_the_last_bit_with_absent_classes(seed):
    y_true, y_pred, k = random_labels_with_absent_classes(seed)
    assert macro_f1(y_true, y_pred, k) == sk_macro(y_true, y_pred, k)


@pytest.mark.parametrize("seed", range(40))
def test_every_row_of_the_kernel_equals_sklearn(seed):
    y_true, y_pred, k = random_labels_with_absent_classes(seed)
    index = np.random.default_rng(seed).integers(0, len(y_true), size=(7, len(y_true)))
    rows = macro_f1_rows(y_true, y_pred, index, k)
    assert rows.shape == (7,)
    assert rows.tolist() == [sk_macro(y_true[i], y_pred[i], k) for i in index]


def test_absent_class_counts_as_zero_in_the_kernel():
    y_true = np.array([0, 0, 1, 1])
    assert macro_f1_rows(y_true, y_true.copy(), np.arange(4)[None, :], 3).tolist() == [2 / 3]


def test_macro_f1_accepts_lists_and_refuses_labels_outside_the_classes():
    assert macro_f1([0, 1, 1], [0, 1, 0], 2) == sk_macro([0, 1, 1], [0, 1, 0], 2)
    with pytest.raises(ValueError, match="class indices"):
        macro_f1([0, 1], [0, 2], 2)
    with pytest.raises(ValueError, match="class indices"):
        macro_f1([-1, 1], [0, 1], 2)
    with pytest.raises(ValueError):
        macro_f1([], [], 2)
    with pytest.raises(ValueError):
        macro_f1([0, 1], [0], 2)


def test_macro_f1_returns_python_float():
    assert type(macro_f1(np.array([0, 1]), np.array([0, 1]), 2)) is float


def test_absent_class_counts_as_zero_and_k_stays_fixed():
    # Class 2 appears in neither truth nor prediction: F1 = 0, averaged over 3 classes.
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 0, 1, 1])
    assert macro_f1(y_true, y_pred, 2) == pytest.approx(1.0)
    assert macro_f1(y_true, y_pred, 3) == pytest.approx(2 / 3)


def test_hand_computed_macro_f1():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 0, 1])
    # class 0: tp=2 fp=1 fn=0 -> F1 = 4/5
    # class 1: tp=1 fp=1 fn=1 -> F1 = 1/2
    # class 2: tp=0 fp=0 fn=1 -> F1 = 0
    expected = (0.8 + 0.5 + 0.0) / 3
    assert macro_f1(y_true, y_pred, 3) == pytest.approx(expected)


def test_single_class_only():
    y = np.zeros(6, dtype=np.int64)
    assert macro_f1(y, y, 1) == pytest.approx(1.0)
    # the same perfect predictions judged over two task classes: the absent class counts 0
    assert macro_f1(y, y, 2) == pytest.approx(0.5)


def test_everything_wrong_is_zero():
    y_true = np.array([0, 1, 2, 0, 1, 2])
    y_pred = (y_true + 1) % 3
    assert macro_f1(y_true, y_pred, 3) == 0.0


def test_perfect_is_one():
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    assert macro_f1(y, y.copy(), 5) == 1.0


# -- per-class scores and balanced accuracy -----------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_per_class_scores_match_sklearn(seed):
    k = 5
    y_true, y_pred = random_case(seed, k, 60, imbalanced=True)
    names = tuple(f"c{i}" for i in range(k))
    scores = per_class_scores(y_true, y_pred, names)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(range(k)), average=None, zero_division=0)
    assert [c.name for c in scores] == list(names)
    np.testing.assert_allclose([c.precision for c in scores], p)
    np.testing.assert_allclose([c.recall for c in scores], r)
    np.testing.assert_allclose([c.f1 for c in scores], f)
    assert [c.support for c in scores] == s.tolist()
    assert all(type(c.support) is int and type(c.f1) is float for c in scores)


def test_per_class_scores_absent_class_is_zero_row():
    scores = per_class_scores(np.array([0, 0]), np.array([0, 0]), ("a", "b"))
    assert (scores[1].precision, scores[1].recall, scores[1].f1, scores[1].support) == (0.0, 0.0, 0.0, 0)
    assert scores[0].f1 == 1.0 and scores[0].support == 2


@pytest.mark.parametrize("seed", range(10))
def test_balanced_accuracy_matches_sklearn_when_all_classes_present(seed):
    k = 4
    rng = np.random.default_rng(seed)
    y_true, y_pred = random_case(seed, k, 50)
    y_true[:k] = np.arange(k)  # every class present in the truth
    rng.shuffle(y_true)
    assert balanced_accuracy(y_true, y_pred, k) == pytest.approx(balanced_accuracy_score(y_true, y_pred))


def test_balanced_accuracy_ignores_classes_absent_from_truth():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    # recall class 0 = 1/2, class 1 = 1; class 2 absent from truth is skipped
    assert balanced_accuracy(y_true, y_pred, 3) == pytest.approx(0.75)


def test_balanced_accuracy_empty_is_zero():
    assert balanced_accuracy(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 3) == 0.0


# -- classification_report ------------------------------------------------------


def test_classification_report_fields_multiclass():
    y_true, y_pred = random_case(2, 4, 60)
    names = ("normal", "t1", "t2", "t3")
    report = classification_report(y_true, y_pred, names, bootstrap_samples=50, bootstrap_seed=3)
    assert report["macro_f1"] == pytest.approx(sk_macro(y_true, y_pred, 4))
    assert report["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy(y_true, y_pred, 4))
    assert report["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=[0, 1, 2, 3]).tolist()
    assert [row["name"] for row in report["per_class"]] == list(names)
    assert set(report["per_class"][0]) == {"name", "precision", "recall", "f1", "support"}
    assert report["bootstrap"]["samples"] == 50 and report["bootstrap"]["seed"] == 3
    assert report["convention"] == MACRO_F1_CONVENTION
    assert report["zero_support_classes"] == []
    assert "positive_f1" not in report and "positive_class" not in report
    json.dumps(report, allow_nan=False)  # plain JSON-ready data


def test_classification_report_binary_positive_f1():
    y_true = np.array([0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 1, 0, 1, 1, 0, 0])
    report = classification_report(y_true, y_pred, ("normal", "defect"), bootstrap_samples=10, positive_index=1)
    # defect: tp=2 fp=1 fn=2 -> F1 = 4/7
    assert report["positive_class"] == "defect"
    assert report["positive_f1"] == pytest.approx(4 / 7)
    assert report["positive_f1"] == pytest.approx(f1_score(y_true, y_pred, pos_label=1, average="binary"))
    assert report["macro_f1"] == pytest.approx(sk_macro(y_true, y_pred, 2))


def test_classification_report_flags_zero_support_classes():
    y_true = np.array([0, 0, 2, 2])
    y_pred = np.array([0, 1, 2, 2])
    report = classification_report(y_true, y_pred, ("a", "b", "c", "d"), bootstrap_samples=0)
    assert report["zero_support_classes"] == ["b", "d"]
    assert report["confusion_matrix"][0] == [1, 1, 0, 0]
    assert len(report["confusion_matrix"]) == 4
    # b: predicted once, never true -> F1 0; d: absent -> F1 0; a: tp1 fn1 -> 2/3; c: 1
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0 + 1 + 0) / 4)


def test_classification_report_accepts_lists():
    report = classification_report([0, 1, 1], [0, 1, 0], ("a", "b"), bootstrap_samples=5)
    assert report["accuracy"] == pytest.approx(2 / 3)


# -- score_cell -------------------------------------------------------------------


def test_score_cell_adds_train_counts_and_tail():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 1, 0]
    metrics, tail = score_cell(
        y_true,
        y_pred,
        ["a", "b", "c"],
        Task.MULTICLASS,
        [100, 40, 10],
        TailConfig(),
        bootstrap_samples=20,
        bootstrap_seed=0,
    )
    assert [row["train_count"] for row in metrics["per_class"]] == [100, 40, 10]
    assert "positive_f1" not in metrics
    assert tail["buckets"] == ["head", "medium", "tail"]
    assert tail["worst_classes"][0]["name"] == "c"
    assert tail["worst_classes"][0]["most_confused_with"] == "a"


def test_score_cell_binary_has_positive_f1():
    metrics, _ = score_cell([0, 1, 1], [0, 1, 1], ["normal", "defect"], Task.BINARY, [5, 5], TailConfig(), 5, 0)
    assert metrics["positive_class"] == "defect" and metrics["positive_f1"] == 1.0


def test_score_cell_rejects_mismatched_train_counts():
    with pytest.raises(ValueError):
        score_cell([0, 1], [0, 1], ["a", "b"], Task.MULTICLASS, [1, 2, 3], TailConfig(), 5, 0)


def test_classification_report_passes_bootstrap_confidence():
    y_true, y_pred = random_case(4, 3, 60)
    report = classification_report(y_true, y_pred, ("a", "b", "c"), bootstrap_samples=100, bootstrap_confidence=0.8)
    expected = bootstrap_macro_f1(y_true, y_pred, 3, samples=100, confidence=0.8, seed=0)
    assert report["bootstrap"]["confidence"] == 0.8
    assert (report["bootstrap"]["low"], report["bootstrap"]["high"]) == (expected.low, expected.high)
