"""The logistic head the linear probes compose: ``C`` chosen on validation, probabilities over every class."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from asebench.components.logistic_head import LogisticHead, LogisticHeadOptions

pytest.importorskip("sklearn")


def blobs(labels: list[int], seed: int, dim: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian blobs, one per class (centre 3 on the class's own axis)."""
    y = np.asarray(labels)
    x = 3.0 * np.eye(dim)[y] + np.random.default_rng(seed).normal(0.0, 0.3, (len(y), dim))
    return x, y


def test_defaults_are_pinned_because_cell_hashes_include_them() -> None:
    assert LogisticHeadOptions().model_dump() == {
        "c_grid": [0.01, 0.1, 1.0, 10.0],
        "class_weight": "balanced",
        "max_iter": 2000,
    }


def test_c_is_chosen_by_validation_macro_f1() -> None:
    """Unweighted and all but unregularised, C=1 separates the blobs; C=1e-4 leaves only the prior (majority class)."""
    x_train, y_train = blobs([0] * 20 + [1] * 5 + [2] * 5, seed=0)
    x_val, y_val = blobs([0, 1, 2] * 4, seed=1)
    head = LogisticHead(LogisticHeadOptions(c_grid=[1e-4, 1.0], class_weight="none"))
    head.fit(x_train, y_train, x_val, y_val, num_classes=3)
    assert head.selected == {"C": 1.0, "val_macro_f1": 1.0}
    np.testing.assert_array_equal(head.predict(x_val, 3).labels, y_val)


def test_the_first_of_equally_good_c_values_wins() -> None:
    x_train, y_train = blobs([0, 1, 2] * 6, seed=0)
    x_val, y_val = blobs([0, 1, 2] * 3, seed=1)
    head = LogisticHead(LogisticHeadOptions(c_grid=[10.0, 0.1, 1.0]))
    head.fit(x_train, y_train, x_val, y_val, num_classes=3)
    assert head.selected == {"C": 10.0, "val_macro_f1": 1.0}


def test_a_class_absent_from_training_gets_a_zero_probability_column() -> None:
    x_train, y_train = blobs([0, 2] * 8, seed=0)
    x_val, y_val = blobs([0, 2] * 3, seed=1)
    x_test, _ = blobs([0, 1, 2] * 3, seed=2)
    head = LogisticHead(LogisticHeadOptions(c_grid=[1.0]))
    head.fit(x_train, y_train, x_val, y_val, num_classes=3)
    predictions = head.predict(x_test, num_classes=3)
    assert predictions.probabilities.shape == (9, 3)
    assert np.all(predictions.probabilities[:, 1] == 0.0)
    np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1.0)
    assert set(predictions.labels.tolist()) <= {0, 2}
    np.testing.assert_array_equal(predictions.labels, predictions.probabilities.argmax(axis=1))


def test_impute_missing_takes_nan_features_that_the_plain_head_refuses() -> None:
    x_train, y_train = blobs([0, 1] * 8, seed=0)
    x_val, y_val = blobs([0, 1] * 3, seed=1)
    x_train[::3, 0] = np.nan
    x_train[:, 3] = np.nan  # a value never read: kept as an empty feature, not dropped
    options = LogisticHeadOptions(c_grid=[1.0])
    with pytest.raises(ValueError, match="NaN"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the scaler's variance of the all-NaN column
        LogisticHead(options).fit(x_train, y_train, x_val, y_val, num_classes=2)
    head = LogisticHead(options, impute_missing=True)
    head.fit(x_train, y_train, x_val, y_val, num_classes=2)
    assert head.selected["C"] == 1.0
    assert head.predict(x_val, 2).probabilities.shape == (6, 2)


def test_plugin_modules_can_import_the_options_without_sklearn_or_torch() -> None:
    code = textwrap.dedent("""
        import json, sys
        import asebench.components.backbone_options, asebench.components.logistic_head
        print(json.dumps(sorted(m for m in ("torch", "timm", "torchvision", "sklearn") if m in sys.modules)))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
