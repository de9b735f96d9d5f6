"""The one bootstrap: percentile intervals of macro-F1 from test samples drawn with replacement.

Three statistics share one resampling routine, :func:`replicate_means`:

* the interval of one cell, stored in every record (``metrics.bootstrap``);
* the report's pooled interval of a method's mean over seeds/folds: each
  replicate resamples every cell independently and averages the cells, so the
  interval is about the reported mean;
* the paired difference of two methods, which scores both on the *same*
  indices of each cell.

A cell is the pooled case with one cell, so the stored per-cell intervals and
the report's come from the same draws: ``numpy.random.default_rng(seed)``,
:data:`BLOCK` replicates at a time as one ``(rows, n)`` draw per cell, cells in
the order given. A ``(rows, n)`` draw is the same stream as ``rows`` draws of
``n`` (numpy >= 2 for int64 indices; ``test_bootstrap.py`` pins values computed
with the per-replicate loop used before, so a numpy that changes this fails
there). The block size is fixed so the stream never depends on the data.

These intervals cover test-set sampling only, not seed-to-seed variation
(see :mod:`asebench.scoring.statistics` for the seed tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from asebench.scoring.classification import Labels, class_indices, macro_f1, macro_f1_rows

BLOCK = 200  # replicates drawn and scored together; part of the random stream, never change it

CellScore = Callable[[tuple[np.ndarray, ...], np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile bootstrap interval of one cell's macro-F1 (as stored in a record)."""

    low: float | None
    high: float | None
    confidence: float
    samples: int
    seed: int


@dataclass(frozen=True)
class Interval:
    """A point estimate (mean macro-F1 over cells) with its percentile bootstrap interval."""

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


def _index_blocks(sizes: Sequence[int], samples: int, seed: int) -> Iterator[list[np.ndarray]]:
    """Resampling indices, one block of up to :data:`BLOCK` replicates at a time: ``block[c]`` is ``(rows, sizes[c])``."""
    rng = np.random.default_rng(seed)
    for start in range(0, samples, BLOCK):
        rows = min(BLOCK, samples - start)
        yield [rng.integers(0, n, size=(rows, n)) for n in sizes]


def replicate_means(cells: Sequence[tuple[np.ndarray, ...]], score: CellScore, samples: int, seed: int) -> np.ndarray:
    """The statistic of every replicate: ``score(cell, index)`` per cell on its resample, averaged over cells.

    ``cells[c][0]`` is the cell's truth (its length is the cell's sample
    count); ``score`` gets the whole cell and a ``(rows, n)`` index block and
    returns one value per row.
    """
    values = []
    for block in _index_blocks([len(cell[0]) for cell in cells], samples, seed):
        values.append(np.mean([score(cell, index) for cell, index in zip(cells, block, strict=True)], axis=0))
    return np.concatenate(values)


def percentile_bounds(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` percentile interval of the replicate values."""
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _cells(cells: Sequence[Sequence[Labels]], num_classes: int) -> list[tuple[np.ndarray, ...]]:
    """Non-empty cells as validated int64 arrays of equal length (truth first)."""
    arrays = [tuple(class_indices(values, num_classes) for values in cell) for cell in cells if len(cell[0])]
    if any(len({len(a) for a in cell}) > 1 for cell in arrays):
        raise ValueError("the truth and the predictions of a cell must have the same length")
    return arrays


def pooled_bootstrap_ci(
    cells: Sequence[tuple[Labels, Labels]],
    num_classes: int,
    samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile CI of the mean macro-F1 over cells (seeds/folds) from resampled test samples."""
    arrays = _cells(cells, num_classes)
    if not arrays or samples <= 0:
        raise ValueError("pooled_bootstrap_ci needs at least one non-empty cell and samples > 0")
    estimate = float(np.mean([macro_f1(t, p, num_classes) for t, p in arrays]))
    values = replicate_means(
        arrays, lambda cell, index: macro_f1_rows(cell[0], cell[1], index, num_classes), samples, seed
    )
    low, high = percentile_bounds(values, confidence)
    return Interval(estimate, low, high, confidence, samples)


def bootstrap_macro_f1(
    y_true: Labels,
    y_pred: Labels,
    num_classes: int,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """The stored interval of one cell: :func:`pooled_bootstrap_ci` of that cell alone (no interval when empty)."""
    if len(y_true) == 0 or samples <= 0:
        return BootstrapInterval(None, None, confidence, 0, seed)
    interval = pooled_bootstrap_ci([(y_true, y_pred)], num_classes, samples, confidence, seed)
    return BootstrapInterval(interval.low, interval.high, confidence, samples, seed)


def paired_bootstrap(
    pairs: Sequence[tuple[Labels, Labels, Labels]],
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
    arrays = _cells(pairs, num_classes)
    if not arrays or samples <= 0:
        raise ValueError("paired_bootstrap needs at least one non-empty pair and samples > 0")
    delta = float(np.mean([macro_f1(t, a, num_classes) - macro_f1(t, b, num_classes) for t, a, b in arrays]))

    def difference(cell: tuple[np.ndarray, ...], index: np.ndarray) -> np.ndarray:
        truth, a, b = cell
        rows: np.ndarray = macro_f1_rows(truth, a, index, num_classes) - macro_f1_rows(truth, b, index, num_classes)
        return rows

    values = replicate_means(arrays, difference, samples, seed)
    tolerance = 1e-12  # identical predictions must count as exactly 0, not as rounding noise
    at_most = int(np.sum(values <= tolerance))
    at_least = int(np.sum(values >= -tolerance))
    p_value = min(1.0, 2.0 * min(at_most + 1, at_least + 1) / (samples + 1))
    low, high = percentile_bounds(values, confidence)
    return PairedBootstrap(delta, low, high, p_value, samples)
