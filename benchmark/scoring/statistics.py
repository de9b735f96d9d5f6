"""Statistics for reports: bootstrap intervals and paired significance tests.

Everything works on stored predictions (integer class indices), never on a
model. Two sources of uncertainty are kept apart, as in the tables:

* **test-sample** uncertainty: percentile bootstrap over test samples. With
  several seeds/folds, every cell is resampled independently in each
  replicate and the statistic is the mean over cells, matching the reported
  mean. Paired comparisons resample the *same* indices for both methods.
* **seed** uncertainty: a paired test over per-seed macro-F1. The default is
  the Nadeau-Bengio corrected resampled t-test: seeds draw overlapping
  train/test splits of one dataset, so their scores are correlated and the
  plain paired t-test (also available, with Wilcoxon) rejects far too often.

McNemar's test compares correctness on the same test samples: exact binomial
when there are fewer than :data:`MCNEMAR_EXACT_BELOW` discordant samples,
chi-square with continuity correction otherwise.

Random draws use ``numpy.random.default_rng(seed)`` in a fixed order, so a
report is reproducible from the same records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from asebench.scoring.classification import class_indices, macro_f1, macro_f1_rows

MCNEMAR_EXACT_BELOW = 25
_CHUNK = 200  # bootstrap replicates drawn per block; fixed so the random stream never depends on sizes

SeedTestName = Literal["corrected", "ttest", "wilcoxon"]
SEED_TEST_NAMES: dict[str, str] = {
    "corrected": "corrected resampled t-test (Nadeau-Bengio)",
    "ttest": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank",
}


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    samples: int


@dataclass(frozen=True)
class PairedBootstrap:
    """Difference ``a - b`` of mean macro-F1, its interval and the two-sided p-value."""

    delta: float
    low: float
    high: float
    p_value: float
    samples: int


@dataclass(frozen=True)
class McNemar:
    """McNemar's test. ``a_only``: samples only ``a`` gets right; ``b_only``: only ``b``."""

    a_only: int
    b_only: int
    statistic: float | None
    p_value: float
    test: Literal["exact", "chi2"]


@dataclass(frozen=True)
class SeedTest:
    """A paired test over per-seed scores; ``p_value`` is None when it cannot be computed."""

    n: int
    statistic: float | None
    p_value: float | None
    test: str
    note: str = ""


def _as_int(values: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _replicates(sizes: Sequence[int], samples: int, seed: int) -> list[list[np.ndarray]]:
    """Resampling indices per block of replicates: ``blocks[k][c]`` has shape ``(rows, sizes[c])``."""
    rng = np.random.default_rng(seed)
    blocks = []
    for start in range(0, samples, _CHUNK):
        rows = min(_CHUNK, samples - start)
        blocks.append([rng.integers(0, n, size=(rows, n)) for n in sizes])
    return blocks


def pooled_bootstrap_ci(
    cells: Sequence[tuple[Sequence[int], Sequence[int]]],
    num_classes: int,
    samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile CI of the mean macro-F1 over cells (seeds/folds) from resampled test samples.

    Each replicate resamples every cell's test set with replacement and
    averages the cells' macro-F1, so the interval is about the reported mean.
    """
    arrays = [(class_indices(t, num_classes), class_indices(p, num_classes)) for t, p in cells if len(t)]
    if not arrays or samples <= 0:
        raise ValueError("pooled_bootstrap_ci needs at least one non-empty cell and samples > 0")
    estimate = float(np.mean([macro_f1(t, p, num_classes) for t, p in arrays]))
    scores = []
    for block in _replicates([len(t) for t, _ in arrays], samples, seed):
        per_cell = [macro_f1_rows(t, p, index, num_classes) for (t, p), index in zip(arrays, block, strict=True)]
        scores.append(np.mean(per_cell, axis=0))
    values = np.concatenate(scores)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return Interval(estimate, float(low), float(high), confidence, samples)


def paired_bootstrap(
    pairs: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]],
    num_classes: int,
    samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrap:
    """Paired bootstrap of the macro-F1 difference ``a - b`` over test samples.

    ``pairs`` holds ``(y_true, pred_a, pred_b)`` per paired cell, aligned by
    sample. Each replicate draws one set of indices per cell and scores both
    methods on it; the statistic is the mean difference over cells. The
    two-sided p-value is ``2 * min(P(d* <= 0), P(d* >= 0))`` with the usual
    +1 correction, capped at 1: identical predictions give 1, a method that
    wins on every replicate gives about ``2 / (samples + 1)``.
    """
    arrays = [tuple(class_indices(v, num_classes) for v in triple) for triple in pairs if len(triple[0])]
    if not arrays or samples <= 0:
        raise ValueError("paired_bootstrap needs at least one non-empty pair and samples > 0")
    for t, a, b in arrays:
        if not len(t) == len(a) == len(b):
            raise ValueError("y_true, pred_a and pred_b must have the same length")
    delta = float(np.mean([macro_f1(t, a, num_classes) - macro_f1(t, b, num_classes) for t, a, b in arrays]))
    deltas = []
    for block in _replicates([len(t) for t, _, _ in arrays], samples, seed):
        per_cell = [
            macro_f1_rows(t, a, index, num_classes) - macro_f1_rows(t, b, index, num_classes)
            for (t, a, b), index in zip(arrays, block, strict=True)
        ]
        deltas.append(np.mean(per_cell, axis=0))
    values = np.concatenate(deltas)
    tolerance = 1e-12  # identical predictions must count as exactly 0, not as rounding noise
    at_most = int(np.sum(values <= tolerance))
    at_least = int(np.sum(values >= -tolerance))
    p_value = min(1.0, 2.0 * min(at_most + 1, at_least + 1) / (samples + 1))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return PairedBootstrap(delta, float(low), float(high), p_value, samples)


def mcnemar_counts(a_only: int, b_only: int) -> McNemar:
    """McNemar's test from the discordant counts (exact below :data:`MCNEMAR_EXACT_BELOW`)."""
    from scipy import stats

    if a_only < 0 or b_only < 0:
        raise ValueError("discordant counts must be non-negative")
    discordant = a_only + b_only
    if discordant == 0:
        return McNemar(a_only, b_only, None, 1.0, "exact")
    if discordant < MCNEMAR_EXACT_BELOW:
        p_value = float(stats.binomtest(a_only, discordant, 0.5, alternative="two-sided").pvalue)
        return McNemar(a_only, b_only, None, min(1.0, p_value), "exact")
    statistic = max(0.0, abs(a_only - b_only) - 1.0) ** 2 / discordant
    return McNemar(a_only, b_only, float(statistic), float(stats.chi2.sf(statistic, 1)), "chi2")


def mcnemar(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int]) -> McNemar:
    """McNemar's test on the correctness of two methods on the same samples."""
    truth, a, b = _as_int(y_true), _as_int(pred_a), _as_int(pred_b)
    right_a, right_b = a == truth, b == truth
    return mcnemar_counts(int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b)))


def seed_test(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    test: SeedTestName = "ttest",
    test_train_ratio: float | None = None,
) -> SeedTest:
    """Paired test over per-seed (or per-fold) scores; n/a with fewer than 2 pairs.

    ``corrected`` needs ``test_train_ratio`` (test samples / training samples
    of one split): it inflates the variance of the mean difference from
    ``var/n`` to ``(1/n + ratio) * var`` to account for the overlap between
    the splits (Nadeau and Bengio 2003, Machine Learning 52; Bouckaert and
    Frank 2004). With ratio 0 it equals the paired t-test.
    """
    from scipy import stats

    a = np.asarray(scores_a, dtype=float)
    b = np.asarray(scores_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("seed_test needs the same number of scores for both methods")
    if test not in SEED_TEST_NAMES:
        raise ValueError(f"unknown seed test {test!r}; expected one of {sorted(SEED_TEST_NAMES)}")
    name = SEED_TEST_NAMES[test]
    n = len(a)
    if n < 2:
        return SeedTest(n, None, None, name, "n/a: needs >= 2 seeds")
    differences = a - b
    if np.allclose(differences, 0.0, atol=1e-12):
        return SeedTest(n, 0.0, 1.0, name, "identical per-seed scores")
    if test == "wilcoxon":
        result = stats.wilcoxon(a, b, zero_method="wilcox")
        statistic, p_value = float(result.statistic), float(result.pvalue)
    else:
        if np.allclose(differences, differences[0], atol=1e-12):
            return SeedTest(n, None, None, name, "n/a: constant difference (zero variance)")
        ratio = 0.0 if test == "ttest" else test_train_ratio
        if ratio is None or not ratio >= 0.0:
            return SeedTest(n, None, None, name, "n/a: the splits' test/train sizes are not recorded")
        statistic = float(differences.mean() / math.sqrt((1.0 / n + ratio) * differences.var(ddof=1)))
        p_value = float(2.0 * stats.t.sf(abs(statistic), df=n - 1))
    if math.isnan(p_value):
        return SeedTest(n, None, None, name, "n/a: undefined for these scores")
    return SeedTest(n, statistic, p_value, name)
