"""Significance tests (McNemar, across seeds) on hand-checkable cases."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats

from asebench.scoring.statistics import MCNEMAR_EXACT_BELOW, mcnemar, mcnemar_counts, seed_test


def exact_two_sided_binomial(k: int, n: int) -> float:
    """Two-sided exact McNemar p-value by hand: 2 * P(X <= min(k, n-k)), X ~ Bin(n, 1/2), capped at 1."""
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


# -- McNemar ---------------------------------------------------------------------------------


def test_mcnemar_exact_on_a_hand_made_table() -> None:
    # contingency of (method right?, reference right?): 40 both, 3 only method, 12 only reference, 5 neither
    result = mcnemar_counts(3, 12)
    assert result.test == "exact" and MCNEMAR_EXACT_BELOW > 3 + 12
    assert result.p_value == pytest.approx(exact_two_sided_binomial(3, 15), rel=1e-12)
    assert result.p_value == pytest.approx(stats.binomtest(3, 15, 0.5).pvalue, rel=1e-12)
    assert result.p_value == pytest.approx(0.03515625)  # 2 * (1 + 15 + 105 + 455) / 2**15


def test_mcnemar_chi_square_with_continuity_correction_for_many_discordant() -> None:
    result = mcnemar_counts(10, 30)
    assert result.test == "chi2"
    assert result.statistic == pytest.approx((abs(10 - 30) - 1) ** 2 / 40)  # 9.025
    # chi-square with 1 dof: sf(x) = erfc(sqrt(x / 2))
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(9.025 / 2)), rel=1e-9)


def test_mcnemar_is_symmetric_and_one_without_discordant_pairs() -> None:
    assert mcnemar_counts(0, 0).p_value == 1.0
    assert mcnemar_counts(7, 7).p_value == 1.0
    assert mcnemar_counts(4, 9).p_value == pytest.approx(mcnemar_counts(9, 4).p_value)
    with pytest.raises(ValueError):
        mcnemar_counts(-1, 3)


def test_mcnemar_counts_discordant_samples_from_predictions() -> None:
    truth = [0, 1, 2, 0, 1, 2, 0, 1]
    a = [0, 1, 2, 0, 1, 0, 1, 1]  # wrong on samples 5, 6
    b = [0, 0, 0, 0, 1, 2, 0, 1]  # wrong on samples 1, 2
    result = mcnemar(truth, a, b)
    assert (result.a_only, result.b_only) == (2, 2)
    assert result.p_value == 1.0


# -- across seeds ----------------------------------------------------------------------------


def test_seed_test_needs_two_seeds() -> None:
    result = seed_test([0.8], [0.7])
    assert result.p_value is None and "n/a" in result.note


def test_paired_t_test_over_seeds_matches_a_hand_computation() -> None:
    a, b = [0.80, 0.82, 0.85, 0.79], [0.70, 0.75, 0.70, 0.74]
    differences = [x - y for x, y in zip(a, b, strict=True)]
    t = statistics.fmean(differences) / (statistics.stdev(differences) / math.sqrt(len(differences)))
    result = seed_test(a, b)
    assert result.n == 4 and result.test == "paired t-test"
    assert result.statistic == pytest.approx(t)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(t), df=3))


def test_seed_test_edge_cases_and_wilcoxon() -> None:
    assert seed_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]).p_value == 1.0
    constant = seed_test([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])
    assert constant.p_value is None and "constant" in constant.note
    wilcoxon = seed_test([0.9, 0.8, 0.85, 0.88, 0.91, 0.87], [0.7, 0.72, 0.69, 0.8, 0.75, 0.74], test="wilcoxon")
    assert wilcoxon.test == "Wilcoxon signed-rank"
    assert wilcoxon.p_value == pytest.approx(2 / 2**6)  # all six differences positive: exact two-sided p


def test_corrected_resampled_t_test_matches_the_nadeau_bengio_formula() -> None:
    a = [0.80, 0.82, 0.85, 0.79, 0.76, 0.83]
    b = [0.70, 0.79, 0.80, 0.81, 0.72, 0.78]
    differences = [x - y for x, y in zip(a, b, strict=True)]
    n, ratio = len(differences), 91 / 291
    t = statistics.fmean(differences) / math.sqrt((1 / n + ratio) * statistics.variance(differences))
    result = seed_test(a, b, test="corrected", test_train_ratio=ratio)
    assert result.test.startswith("corrected resampled t-test")
    assert result.statistic == pytest.approx(t)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(t), df=n - 1))
    plain = seed_test(a, b)
    assert plain.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert result.p_value > plain.p_value  # the overlap of resampled splits widens the test
    assert seed_test(a, b, test="corrected", test_train_ratio=0.0).p_value == pytest.approx(plain.p_value)


def test_corrected_seed_test_without_split_sizes_is_not_available() -> None:
    result = seed_test([0.8, 0.7, 0.9], [0.6, 0.65, 0.7], test="corrected")
    assert result.p_value is None and "test/train sizes" in result.note
    with pytest.raises(ValueError, match="unknown seed test"):
        seed_test([0.8, 0.7], [0.6, 0.65], test="bonferroni")  # type: ignore[arg-type]
