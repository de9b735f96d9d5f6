"""Holm's correction, DeLong's paired AUROC test, Friedman's test and Nemenyi's critical difference.

Each is checked against an independent computation: a hand-worked example and statsmodels (Holm),
the O(m n) pair loop of DeLong's definition and scikit-learn's AUC (DeLong), SciPy's
``friedmanchisquare`` and Demšar's (2006) Table 5 and worked example (Friedman / Nemenyi).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from asebench.scoring.delong import (
    DeLongTest,
    combine_cells,
    delong_covariance,
    delong_test,
    structural_components,
)
from asebench.scoring.ranking import average_ranks, cliques, critical_difference, friedman, nemenyi_q
from asebench.scoring.statistics import holm

# -- Holm ------------------------------------------------------------------------------------


def test_holm_by_hand() -> None:
    # sorted: 0.005*4 = 0.02; 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1, monotone
    assert holm([0.01, None, 0.04, math.nan, 0.03, 0.005]) == pytest.approx([0.03, None, 0.06, None, 0.06, 0.02])
    assert holm([0.2]) == [0.2] and holm([]) == []


def test_holm_equals_statsmodels() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(3)
    for size in (1, 2, 5, 36):
        p = rng.uniform(0, 0.2, size)
        p[: size // 3] = p[0]  # ties
        expected = multitest.multipletests(p, method="holm")[1]
        assert holm(list(p)) == pytest.approx(list(expected), abs=1e-12)


# -- DeLong ----------------------------------------------------------------------------------


def _direct_covariance(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) by the definition: psi over every (defective, normal) pair, O(m n)."""
    aucs, v10s, v01s = [], [], []
    for row in scores:
        x, y = row[labels][:, None], row[~labels][None, :]
        psi = (x > y) + 0.5 * (x == y)
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    m, n = int(labels.sum()), int((~labels).sum())
    return np.array(aucs), np.cov(np.array(v10s)) / m + np.cov(np.array(v01s)) / n


@pytest.mark.parametrize("discrete", [False, True])
def test_fast_delong_equals_the_pair_loop_and_sklearn(discrete: bool) -> None:
    rng = np.random.default_rng(7)
    labels = rng.random(60) < 0.35
    scores = np.vstack([rng.random(60) + labels, rng.random(60) + 0.4 * labels, rng.normal(size=60)])
    if discrete:  # many ties: midranks must give psi = 1/2 on them
        scores = np.round(scores * 3) / 3
    aucs, covariance = delong_covariance(labels, scores)
    expected_aucs, expected_cov = _direct_covariance(labels, scores)
    np.testing.assert_allclose(aucs, expected_aucs, atol=1e-12)
    np.testing.assert_allclose(covariance, expected_cov, atol=1e-12)
    np.testing.assert_allclose(aucs, [roc_auc_score(labels, s) for s in scores], atol=1e-12)
    test = delong_test(labels, scores[0], scores[1])
    variance = expected_cov[0, 0] + expected_cov[1, 1] - 2 * expected_cov[0, 1]
    z = (expected_aucs[0] - expected_aucs[1]) / math.sqrt(variance)
    assert test.variance == pytest.approx(variance) and test.z == pytest.approx(z)
    assert test.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert (test.positives, test.negatives) == (int(labels.sum()), int((~labels).sum()))


def test_delong_small_worked_example() -> None:
    # defective scores 0.9, 0.6, 0.4; normal 0.5, 0.3, 0.1 (method a); b reverses one pair
    labels = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    a = np.array([0.9, 0.6, 0.4, 0.5, 0.3, 0.1])
    aucs, v10, v01 = structural_components(labels, a)
    # V10 = share of normals below each defect: 3/3, 3/3, 2/3; V01 = share of defects above each normal
    np.testing.assert_allclose(v10[0], [1, 1, 2 / 3])
    np.testing.assert_allclose(v01[0], [2 / 3, 1, 1])
    assert aucs[0] == pytest.approx(8 / 9)
    # var(V10) = var(V01) = 1/27 (ddof 1) -> Var(AUC) = 1/27/3 + 1/27/3 = 2/81
    assert delong_covariance(labels, a)[1][0, 0] == pytest.approx(2 / 81)


def test_delong_identical_and_undefined() -> None:
    labels = np.array([1, 1, 0, 0, 0], dtype=bool)
    scores = np.array([0.8, 0.4, 0.5, 0.2, 0.1])
    same = delong_test(labels, scores, scores * 2)
    assert same.p_value == 1.0 and same.delta == 0.0
    one = delong_test(np.array([1, 0, 0, 0], dtype=bool), [0.9, 0.1, 0.2, 0.3], [0.1, 0.9, 0.2, 0.3])
    assert one.p_value is None and "needs >= 2" in one.note and one.auc_a == 1.0


def test_combining_cells() -> None:
    cells = [DeLongTest(0.9, 0.8, 0.0004, None, None, 10, 10), DeLongTest(0.8, 0.8, 0.0016, None, None, 10, 10)]
    independent = combine_cells(cells, disjoint=True)
    assert independent.delta == pytest.approx(0.05)
    assert independent.z == pytest.approx(0.05 / math.sqrt((0.0004 + 0.0016) / 4))
    conservative = combine_cells(cells, disjoint=False)
    assert conservative.z == pytest.approx(0.05 / ((0.02 + 0.04) / 2))
    assert conservative.p_value is not None and independent.p_value is not None
    assert conservative.p_value > independent.p_value and "conservative" in conservative.combination
    single = combine_cells(cells[:1], disjoint=False)
    assert single.combination == "one cell" and single.z == pytest.approx(0.1 / 0.02)


# -- Friedman / Nemenyi ----------------------------------------------------------------------


DEMSAR_TABLE_5A = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}


@pytest.mark.parametrize("k", sorted(DEMSAR_TABLE_5A))
def test_nemenyi_q_matches_demsar_table_5(k: int) -> None:
    # his table rounds a few entries the other way (k = 3: 2.3437.., k = 7: 2.9484..)
    assert nemenyi_q(k, 0.05) == pytest.approx(DEMSAR_TABLE_5A[k], abs=1.5e-3)


def test_critical_difference_of_demsars_example() -> None:
    # Demšar (2006), section 3.2.4: four classifiers on fourteen data sets, CD = 2.569 sqrt(4*5 / (6*14)) = 1.25
    assert critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)
    assert critical_difference(2, 10) == pytest.approx(1.959964 * math.sqrt(2 * 3 / 60))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_friedman_equals_scipy_with_and_without_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.random((8, 5))
    if seed:
        scores = np.round(scores * 4) / 4  # ties inside blocks
    ours = friedman(scores)
    theirs = stats.friedmanchisquare(*scores.T)
    assert ours.statistic == pytest.approx(theirs.statistic) and ours.p_value == pytest.approx(theirs.pvalue)
    # Iman-Davenport from the same statistic (Demšar 2006, eq. after (3))
    n, k = scores.shape
    expected_f = (n - 1) * ours.statistic / (n * (k - 1) - ours.statistic)
    assert ours.iman_davenport == pytest.approx(expected_f)
    assert ours.iman_davenport_p == pytest.approx(stats.f.sf(expected_f, k - 1, (k - 1) * (n - 1)))


def test_friedman_two_methods_and_degenerate_cases() -> None:
    scores = np.array([[0.9, 0.8], [0.7, 0.6], [0.5, 0.6]])  # a wins 2 of 3 blocks
    result = friedman(scores)
    np.testing.assert_allclose(average_ranks(scores), [4 / 3, 5 / 3])
    assert result.statistic == pytest.approx(12 * 3 / 6 * ((4 / 3) ** 2 + (5 / 3) ** 2 - 2 * 9 / 4))
    ties = friedman(np.ones((3, 4)))
    assert ties.statistic == 0.0 and ties.p_value == 1.0
    perfect = friedman(np.array([[3.0, 2.0, 1.0]] * 4))
    assert perfect.iman_davenport == math.inf and perfect.p_value is not None and perfect.p_value < 0.05
    with pytest.raises(ValueError, match="at least 2"):
        friedman(np.ones((1, 3)))


def test_cliques_join_methods_closer_than_the_critical_difference() -> None:
    assert cliques([1.0, 1.5, 2.0, 3.5, 3.9], 1.2) == [(0, 2), (3, 4)]
    assert cliques([1.0, 1.5, 2.4, 3.0], 1.0) == [(0, 1), (1, 2), (2, 3)]
    assert cliques([1.0, 3.0], 1.0) == []
    with pytest.raises(ValueError, match="ascending"):
        cliques([2.0, 1.0], 1.0)
