"""DeLong's paired test of two ROC AUCs on the same test images (image AUROC of anomaly detectors).

The AUROC of scores ``s`` on positives ``X`` (m defective images) and negatives
``Y`` (n normal images) is the Mann-Whitney statistic, the mean over all pairs of
``psi(X_i, Y_j)`` (1 if ``X_i > Y_j``, 1/2 on a tie, 0 otherwise). DeLong, DeLong
and Clarke-Pearson (1988, Biometrics 44) estimate the covariance of two such
AUCs on the same images from the *structural components*
``V10_i = mean_j psi(X_i, Y_j)`` and ``V01_j = mean_i psi(X_i, Y_j)``:
``S = S10 / m + S01 / n`` with ``S10``, ``S01`` the sample covariance matrices
(ddof 1) of the components across the two methods. The difference of the two
AUCs is then tested with ``z = (A - B) / sqrt(S_aa + S_bb - 2 S_ab)``, two-sided
normal p-value.

The components come from midranks, as in Sun and Xu (2014, IEEE Signal
Processing Letters 21, "Fast implementation of DeLong's algorithm"): with ``T_z``
the midranks over all m + n scores, ``T_x`` over the positives and ``T_y`` over
the negatives, ``V10 = (T_z[X] - T_x) / n`` and ``V01 = 1 - (T_z[Y] - T_y) / m``,
in O((m + n) log(m + n)) instead of the O(m n) pair loop (the tests check both
against each other and the AUC against scikit-learn).

Several paired cells (seeds, folds, categories) are combined by
:func:`combine_cells`: the mean of the per-cell differences, with the variance
of the mean from the per-cell variances.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DeLongTest:
    """AUROC of ``a`` and ``b`` on the same images, the variance of ``a - b`` and the two-sided p-value.

    ``variance``/``z``/``p_value`` are None when the test is undefined (fewer than two images of a class,
    or a zero variance with a non-zero difference); ``note`` says why.
    """

    auc_a: float
    auc_b: float
    variance: float | None
    z: float | None
    p_value: float | None
    positives: int
    negatives: int
    note: str = ""

    @property
    def delta(self) -> float:
        return self.auc_a - self.auc_b


@dataclass(frozen=True)
class CombinedDeLong:
    """The mean AUROC difference over paired cells and its test (see :func:`combine_cells`)."""

    cells: int
    auc_a: float
    auc_b: float
    delta: float
    z: float | None
    p_value: float | None
    combination: str
    note: str = ""


def midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (``scipy.stats.rankdata(method='average')``)."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(values, method="average"), dtype=np.float64)


def structural_components(is_positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs ``(k,)`` and the components ``V10`` ``(k, m)``, ``V01`` ``(k, n)`` of ``k`` score rows (Sun and Xu 2014)."""
    labels = np.asarray(is_positive, dtype=bool).reshape(-1)
    rows = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    positives, negatives = rows[:, labels], rows[:, ~labels]
    m, n = positives.shape[1], negatives.shape[1]
    if m == 0 or n == 0:
        raise ValueError("DeLong's components need at least one positive and one negative image")
    v10 = np.empty((len(rows), m))
    v01 = np.empty((len(rows), n))
    aucs = np.empty(len(rows))
    for r in range(len(rows)):
        t_x, t_y = midranks(positives[r]), midranks(negatives[r])
        t_z = midranks(np.concatenate([positives[r], negatives[r]]))
        aucs[r] = (t_z[:m].sum() - m * (m + 1) / 2.0) / (m * n)
        v10[r] = (t_z[:m] - t_x) / n
        v01[r] = 1.0 - (t_z[m:] - t_y) / m
    return aucs, v10, v01


def delong_covariance(is_positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs ``(k,)`` and their DeLong covariance ``S10 / m + S01 / n`` ``(k, k)``; needs >= 2 images of each class."""
    aucs, v10, v01 = structural_components(is_positive, scores)
    m, n = v10.shape[1], v01.shape[1]
    if m < 2 or n < 2:
        raise ValueError("DeLong's covariance needs at least two positive and two negative images")
    covariance = np.atleast_2d(np.cov(v10, ddof=1)) / m + np.atleast_2d(np.cov(v01, ddof=1)) / n
    return aucs, covariance


def delong_test(
    is_positive: Sequence[bool] | np.ndarray,
    scores_a: Sequence[float] | np.ndarray,
    scores_b: Sequence[float] | np.ndarray,
) -> DeLongTest:
    """DeLong's two-sided paired test of ``AUROC(a) = AUROC(b)`` on the same images (positives = defective)."""
    from scipy.stats import norm

    labels = np.asarray(is_positive, dtype=bool).reshape(-1)
    a = np.asarray(scores_a, dtype=np.float64).reshape(-1)
    b = np.asarray(scores_b, dtype=np.float64).reshape(-1)
    if not (len(a) == len(b) == len(labels)):
        raise ValueError("delong_test needs one score per image for both methods")
    m, n = int(labels.sum()), int((~labels).sum())
    if m < 2 or n < 2:
        auc_a = auc_b = math.nan
        if m and n:
            auc_a, auc_b = (float(x) for x in structural_components(labels, np.vstack([a, b]))[0])
        return DeLongTest(auc_a, auc_b, None, None, None, m, n, "n/a: needs >= 2 defective and >= 2 normal images")
    aucs, covariance = delong_covariance(labels, np.vstack([a, b]))
    variance = float(covariance[0, 0] + covariance[1, 1] - 2.0 * covariance[0, 1])
    delta = float(aucs[0] - aucs[1])
    if variance <= 1e-15:
        if abs(delta) <= 1e-12:
            return DeLongTest(float(aucs[0]), float(aucs[1]), 0.0, 0.0, 1.0, m, n, "identical rankings")
        return DeLongTest(float(aucs[0]), float(aucs[1]), 0.0, None, None, m, n, "n/a: zero variance")
    z = delta / math.sqrt(variance)
    return DeLongTest(float(aucs[0]), float(aucs[1]), variance, z, float(2.0 * norm.sf(abs(z))), m, n)


def combine_cells(tests: Sequence[DeLongTest], disjoint: bool) -> CombinedDeLong:
    """The mean AUROC difference over paired cells (seeds, folds, categories) and its two-sided z-test.

    ``disjoint``: the cells' test sets share no image (k-fold folds, per-category protocols), so
    the per-cell estimates are independent and ``Var(mean) = sum(var_i) / c^2``. Otherwise (seeds
    of drawn splits overlap) the conservative bound ``Var(mean) <= (mean_i sd_i)^2`` is used, which
    holds for any correlation between the cells (Cauchy-Schwarz); with one cell both are the same.
    """
    from scipy.stats import norm

    if not tests:
        raise ValueError("combine_cells needs at least one test")
    c = len(tests)
    auc_a = float(np.mean([t.auc_a for t in tests]))
    auc_b = float(np.mean([t.auc_b for t in tests]))
    delta = float(np.mean([t.delta for t in tests]))
    how = "one cell" if c == 1 else ("independent test sets" if disjoint else "overlapping test sets, conservative")
    undefined = [t for t in tests if t.variance is None]
    if undefined:
        return CombinedDeLong(c, auc_a, auc_b, delta, None, None, how, undefined[0].note)
    variances = [float(t.variance or 0.0) for t in tests]
    variance = sum(variances) / c**2 if disjoint else (sum(math.sqrt(v) for v in variances) / c) ** 2
    if variance <= 1e-15:
        same = abs(delta) <= 1e-12
        return CombinedDeLong(c, auc_a, auc_b, delta, 0.0 if same else None, 1.0 if same else None, how)
    z = delta / math.sqrt(variance)
    return CombinedDeLong(c, auc_a, auc_b, delta, z, float(2.0 * norm.sf(abs(z))), how)
