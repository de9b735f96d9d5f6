"""Significance tests for reports: McNemar on paired correctness, paired tests over seeds, Holm's correction.

Everything works on stored predictions and scores, never on a model. Two
sources of uncertainty are kept apart, as in the tables:

* **test-sample** uncertainty: the bootstrap (:mod:`asebench.scoring.bootstrap`)
  and McNemar's test here, which compares correctness on the same test
  samples: exact binomial when there are fewer than
  :data:`MCNEMAR_EXACT_BELOW` discordant samples, chi-square with continuity
  correction otherwise.
* **seed** uncertainty: a paired test over per-seed macro-F1. The default is
  the Nadeau-Bengio corrected resampled t-test: seeds draw overlapping
  train/test splits of one dataset, so their scores are correlated and the
  plain paired t-test (also available, with Wilcoxon) rejects far too often.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

MCNEMAR_EXACT_BELOW = 25

SeedTestName = Literal["corrected", "ttest", "wilcoxon"]
SEED_TEST_NAMES: dict[str, str] = {
    "corrected": "corrected resampled t-test (Nadeau-Bengio)",
    "ttest": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank",
}


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


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (Holm 1979, Scand. J. Statist. 6) over one family of tests.

    Sorted ascending, the i-th smallest of m p-values becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``,
    so a hypothesis is rejected at alpha exactly when Holm's procedure rejects it, and the family-wise
    error rate stays at most alpha whatever the dependence between the tests. ``None`` (and NaN)
    entries are tests that could not run: they are not part of the family and stay None.
    """
    present = sorted((float(p), i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p))
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[i] = running
    return adjusted
