"""The one bootstrap: per-cell, pooled and paired intervals, pinned to the values stored results hold."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from sklearn.metrics import f1_score

from asebench.scoring.bootstrap import (
    BLOCK,
    Interval,
    PairedBootstrap,
    bootstrap_macro_f1,
    paired_bootstrap,
    pooled_bootstrap_ci,
    replicate_means,
)
from asebench.scoring.classification import macro_f1, macro_f1_rows


def random_case(seed: int, k: int, n: int, noise: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Uniform labels and predictions that are right about ``1 - noise`` of the time."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    y_pred = np.where(rng.random(n) < noise, rng.integers(0, k, n), y_true)
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def sk_macro(y_true, y_pred, k):
    return f1_score(y_true, y_pred, labels=list(range(k)), average="macro", zero_division=0)


def pinned_case(seed: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    return y_true, np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, n))


# -- pinned values ---------------------------------------------------------------------------
# Computed before the per-cell and pooled bootstraps became one routine: the per-cell loop drew
# each replicate with its own rng.integers(0, n, size=n) and scored it alone. Odd and even n,
# sample counts that are and are not multiples of the block size.

CELL_PINS = [
    # (case seed, k, n, samples, confidence, bootstrap seed, low, high)
    (0, 2, 45, 1000, 0.95, 0, 0.6428571428571428, 0.8869059819049571),
    (1, 5, 91, 1000, 0.95, 0, 0.5277423631473432, 0.7371563318695797),
    (2, 3, 30, 300, 0.9, 7, 0.4545952380952381, 0.7666262274042597),
    (3, 5, 17, 250, 0.95, 3, 0.36773809523809525, 0.8591233766233766),
    (4, 7, 64, 401, 0.8, 11, 0.5736423985706626, 0.7510120844778401),
]


@pytest.mark.parametrize(("case", "k", "n", "samples", "confidence", "seed", "low", "high"), CELL_PINS)
def test_per_cell_interval_is_pinned(case, k, n, samples, confidence, seed, low, high):
    y_true, y_pred = pinned_case(case, k, n)
    interval = bootstrap_macro_f1(y_true, y_pred, k, samples, confidence, seed)
    assert (interval.low, interval.high, interval.samples, interval.seed) == (low, high, samples, seed)


def test_per_cell_interval_equals_the_old_per_replicate_loop():
    y_true, y_pred = pinned_case(5, 5, 91)
    rng = np.random.default_rng(3)
    scores = [macro_f1(y_true[i], y_pred[i], 5) for i in (rng.integers(0, 91, size=91) for _ in range(BLOCK + 37))]
    low, high = np.quantile(scores, [0.025, 0.975])
    interval = bootstrap_macro_f1(y_true, y_pred, 5, BLOCK + 37, 0.95, 3)
    assert (interval.low, interval.high) == (low, high)


def test_pooled_and_paired_intervals_are_pinned():
    cells = [pinned_case(s, 5, n) for s, n in ((10, 91), (11, 90), (12, 33))]
    assert pooled_bootstrap_ci(cells, 5, 2000, 0.95, 0) == Interval(
        estimate=0.601670855875517, low=0.5260466192707391, high=0.6582867063116049, confidence=0.95, samples=2000
    )
    assert pooled_bootstrap_ci(cells[:1], 5, 450, 0.9, 5) == Interval(
        estimate=0.7131447096964338, low=0.6200063703270868, high=0.7849874620060789, confidence=0.9, samples=450
    )
    pairs = [(t, p, np.where(np.arange(len(t)) % 3 == 0, t, p)) for t, p in cells]
    assert paired_bootstrap(pairs, 5, 2000, 0.95, 0) == PairedBootstrap(
        delta=-0.13688368998193046,
        low=-0.194963447647456,
        high=-0.08387859829472033,
        p_value=0.0009995002498750624,
        samples=2000,
    )


def test_a_cell_is_the_pooled_case_of_one_cell():
    y_true, y_pred = random_case(8, 4, 77)
    cell = bootstrap_macro_f1(y_true, y_pred, 4, 500, 0.9, 2)
    pooled = pooled_bootstrap_ci([(y_true, y_pred)], 4, 500, 0.9, 2)
    assert (cell.low, cell.high) == (pooled.low, pooled.high)


def test_replicate_means_average_the_cells_of_each_replicate():
    cells = [random_case(1, 3, 20), random_case(2, 3, 31)]
    rows = replicate_means(cells, lambda cell, index: macro_f1_rows(cell[0], cell[1], index, 3), 450, 4)
    rng = np.random.default_rng(4)
    expected = []
    for start in range(0, 450, BLOCK):
        block = [rng.integers(0, len(t), size=(min(BLOCK, 450 - start), len(t))) for t, _ in cells]
        expected.append(np.mean([macro_f1_rows(t, p, i, 3) for (t, p), i in zip(cells, block, strict=True)], axis=0))
    assert rows.shape == (450,)
    assert rows.tolist() == np.concatenate(expected).tolist()


# -- bootstrap ----------------------------------------------------------------


def test_bootstrap_contains_point_estimate():
    y_true, y_pred = random_case(3, 4, 200, noise=0.3)
    point = macro_f1(y_true, y_pred, 4)
    interval = bootstrap_macro_f1(y_true, y_pred, 4, samples=300, seed=1)
    assert interval.low <= point <= interval.high
    assert interval.low < interval.high
    assert interval.low >= 0.0 and interval.high <= 1.0
    assert (interval.samples, interval.seed, interval.confidence) == (300, 1, 0.95)


def test_bootstrap_is_seeded_and_deterministic():
    y_true, y_pred = random_case(5, 3, 80)
    a = bootstrap_macro_f1(y_true, y_pred, 3, samples=200, seed=7)
    b = bootstrap_macro_f1(y_true, y_pred, 3, samples=200, seed=7)
    c = bootstrap_macro_f1(y_true, y_pred, 3, samples=200, seed=8)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)


def test_bootstrap_matches_manual_resampling():
    y_true, y_pred = random_case(9, 3, 50)
    interval = bootstrap_macro_f1(y_true, y_pred, 3, samples=50, confidence=0.9, seed=4)
    rng = np.random.default_rng(4)
    scores = []
    for _ in range(50):
        index = rng.integers(0, len(y_true), size=len(y_true))
        scores.append(sk_macro(y_true[index], y_pred[index], 3))
    low, high = np.quantile(scores, [0.05, 0.95])
    assert interval.low == pytest.approx(low) and interval.high == pytest.approx(high)


def test_bootstrap_collapses_for_perfect_predictions():
    y = np.repeat(np.arange(3), 30)
    interval = bootstrap_macro_f1(y, y.copy(), 3, samples=200, seed=0)
    assert interval.low == interval.high == 1.0


def test_wider_confidence_gives_wider_interval():
    y_true, y_pred = random_case(11, 3, 120)
    narrow = bootstrap_macro_f1(y_true, y_pred, 3, samples=300, confidence=0.5, seed=2)
    wide = bootstrap_macro_f1(y_true, y_pred, 3, samples=300, confidence=0.99, seed=2)
    assert wide.low <= narrow.low and narrow.high <= wide.high


@pytest.mark.parametrize(("n", "samples"), [(0, 100), (10, 0)])
def test_bootstrap_degenerate_inputs_give_no_interval(n, samples):
    y = np.zeros(n, dtype=np.int64)
    interval = bootstrap_macro_f1(y, y, 2, samples=samples, seed=3)
    assert interval.low is None and interval.high is None
    assert interval.samples == 0


# -- bootstrap -------------------------------------------------------------------------------


def test_resampled_macro_f1_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, 60)
    pred = np.where(rng.random(60) < 0.6, truth, rng.integers(0, 4, 60))
    index = rng.integers(0, 60, size=(5, 60))
    fast = macro_f1_rows(truth, pred, index, 4)
    for row, value in zip(index, fast, strict=True):
        expected = f1_score(truth[row], pred[row], labels=[0, 1, 2, 3], average="macro", zero_division=0)
        assert value == pytest.approx(expected)


def test_paired_bootstrap_of_identical_predictions_gives_p_one() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 80)
    pred = np.where(rng.random(80) < 0.7, truth, rng.integers(0, 3, 80))
    result = paired_bootstrap([(truth, pred, pred.copy())], 3, samples=500, seed=1)
    assert result.delta == 0.0
    assert result.p_value == 1.0
    assert result.low == result.high == 0.0


def test_paired_bootstrap_detects_a_clearly_better_method() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 120)
    perfect = truth.copy()
    poor = np.where(rng.random(120) < 0.3, truth, rng.integers(0, 3, 120))
    samples = 999
    result = paired_bootstrap([(truth, perfect, poor)], 3, samples=samples, seed=0)
    assert result.delta > 0.3
    assert result.low > 0.0
    assert result.p_value == pytest.approx(2 / (samples + 1))  # never <= 0 in any resample
    swapped = paired_bootstrap([(truth, poor, perfect)], 3, samples=samples, seed=0)
    assert swapped.delta == pytest.approx(-result.delta)
    assert swapped.p_value == result.p_value


def test_paired_bootstrap_pools_cells_and_is_reproducible() -> None:
    rng = np.random.default_rng(2)
    cells = []
    for n in (40, 55):
        truth = rng.integers(0, 2, n)
        cells.append(
            (truth, np.where(rng.random(n) < 0.8, truth, 1 - truth), np.where(rng.random(n) < 0.75, truth, 1 - truth))
        )
    first = paired_bootstrap(cells, 2, samples=300, seed=7)
    again = paired_bootstrap(cells, 2, samples=300, seed=7)
    assert first == again
    by_cell = [
        f1_score(t, a, labels=[0, 1], average="macro", zero_division=0)
        - f1_score(t, b, labels=[0, 1], average="macro", zero_division=0)
        for t, a, b in cells
    ]
    assert first.delta == pytest.approx(statistics.fmean(by_cell))
    assert 0.0 < first.p_value <= 1.0
    with pytest.raises(ValueError):
        paired_bootstrap([([0, 1], [0], [0, 1])], 2, samples=10)


def test_pooled_interval_brackets_the_mean_and_is_degenerate_for_perfect_predictions() -> None:
    truth = np.array([0, 1, 2] * 10)
    perfect = pooled_bootstrap_ci([(truth, truth), (truth, truth)], 3, samples=200, seed=0)
    assert (perfect.estimate, perfect.low, perfect.high) == (1.0, 1.0, 1.0)
    rng = np.random.default_rng(4)
    cells = [(truth, np.where(rng.random(30) < 0.6, truth, rng.integers(0, 3, 30))) for _ in range(3)]
    interval = pooled_bootstrap_ci(cells, 3, samples=400, seed=0)
    means = [f1_score(t, p, labels=[0, 1, 2], average="macro", zero_division=0) for t, p in cells]
    assert interval.estimate == pytest.approx(statistics.fmean(means))
    assert interval.low <= interval.estimate <= interval.high
    assert interval.high - interval.low > 0.01
