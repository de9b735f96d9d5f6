"""Ranking many methods over many datasets: Friedman's test and the Nemenyi critical difference (Demšar 2006).

Demšar (2006, JMLR 7, "Statistical comparisons of classifiers over multiple data
sets") recommends, for k methods on N data sets (blocks), ranking the methods in
each block (1 = best, ties share their mean rank), comparing the average ranks
``R_j`` with Friedman's test, and, post hoc, calling two methods different when
their average ranks differ by at least the critical difference

    CD = q_alpha * sqrt(k (k + 1) / (6 N)),

with ``q_alpha`` the studentized range quantile for k groups and infinite degrees
of freedom divided by sqrt(2) (his Table 5a; :func:`nemenyi_q`).

Friedman's statistic is ``12 N / (k (k + 1)) * (sum_j R_j^2 - k (k + 1)^2 / 4)``,
divided by the tie correction ``1 - sum(t^3 - t) / (N k (k^2 - 1))`` as in
``scipy.stats.friedmanchisquare`` (equal to it in the tests), chi-square with
k - 1 degrees of freedom. Iman and Davenport's F, which Demšar prefers as less
conservative, is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Friedman:
    """Friedman's test over ``blocks`` x ``methods`` scores (p-values None when undefined)."""

    methods: int
    blocks: int
    statistic: float
    p_value: float | None
    iman_davenport: float | None
    iman_davenport_p: float | None


def block_ranks(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Ranks within each block (row) of a ``(N, k)`` score matrix: 1 = best, ties share their mean rank."""
    from scipy.stats import rankdata

    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError("block_ranks needs a (blocks, methods) matrix")
    return np.asarray(rankdata(-matrix if higher_is_better else matrix, axis=1, method="average"), dtype=np.float64)


def average_ranks(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Each method's mean rank over the blocks."""
    return np.asarray(block_ranks(scores, higher_is_better).mean(axis=0), dtype=np.float64)


def friedman(scores: np.ndarray) -> Friedman:
    """Friedman's chi-square (tie-corrected as SciPy) and Iman-Davenport's F; needs >= 2 blocks and methods."""
    from scipy.stats import chi2, f

    ranks = block_ranks(scores)
    n, k = ranks.shape
    if n < 2 or k < 2:
        raise ValueError("Friedman's test needs at least 2 blocks and 2 methods")
    mean_ranks = ranks.mean(axis=0)
    statistic = 12.0 * n / (k * (k + 1)) * (float(np.sum(mean_ranks**2)) - k * (k + 1) ** 2 / 4.0)
    ties = 0.0
    for row in ranks:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts**3 - counts))
    correction = 1.0 - ties / (n * k * (k * k - 1))
    if correction <= 1e-12:  # every block a full tie: nothing to rank
        return Friedman(k, n, 0.0, 1.0, None, None)
    statistic /= correction
    p_value = float(chi2.sf(statistic, k - 1))
    denominator = n * (k - 1) - statistic
    if denominator <= 1e-12:  # perfect agreement between blocks: F is infinite
        return Friedman(k, n, statistic, p_value, math.inf, 0.0)
    f_statistic = (n - 1) * statistic / denominator
    return Friedman(k, n, statistic, p_value, f_statistic, float(f.sf(f_statistic, k - 1, (k - 1) * (n - 1))))


def nemenyi_q(methods: int, alpha: float = 0.05) -> float:
    """Demšar's ``q_alpha``: the studentized range quantile (k groups, infinite df) over sqrt(2)."""
    from scipy.stats import studentized_range

    if methods < 2:
        raise ValueError("the Nemenyi test needs at least 2 methods")
    return float(studentized_range.ppf(1.0 - alpha, methods, np.inf) / math.sqrt(2.0))


def critical_difference(methods: int, blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of average ranks: ``q_alpha * sqrt(k (k + 1) / (6 N))``."""
    return nemenyi_q(methods, alpha) * math.sqrt(methods * (methods + 1) / (6.0 * blocks))


def cliques(ranks: Sequence[float], cd: float) -> list[tuple[int, int]]:
    """Maximal runs ``(first, last)`` of methods (indices in ascending-rank order) whose ranks differ by < ``cd``.

    ``ranks`` must be sorted ascending. Each run is a group the Nemenyi test cannot tell apart: the
    bars of a critical-difference diagram. Runs of one method are left out.
    """
    values = [float(r) for r in ranks]
    if values != sorted(values):
        raise ValueError("cliques needs ranks in ascending order")
    runs: list[tuple[int, int]] = []
    for first in range(len(values)):
        last = first
        while last + 1 < len(values) and values[last + 1] - values[first] < cd:
            last += 1
        if last > first and not any(a <= first and last <= b for a, b in runs):
            runs.append((first, last))
    return runs
