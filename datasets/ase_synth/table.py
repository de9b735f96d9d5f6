"""The numbers printed beside the plot: per-annulus point counts and the X/Y mean and standard deviation.

**Every printed number is computed from the very points that are plotted**
(:func:`~asebench.datasets.ase_synth.clouds.visible_points`), so the table, the
statistics and the dots always agree. ``Radius R`` counts the points with
``R - 5 < r <= R`` (``r = 0`` goes to the 5 µm row); the statistics are the
mean and the population standard deviation (``ddof=0``) of the kept points,
rounded as printed (three decimals).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asebench.datasets.ase_synth.clouds import visible_points
from asebench.domains.ase.layout import RING_RADII_UM, STAT_KEYS, count_key


def _printed(value: float) -> float:
    """The value exactly as the image prints it (three decimals, no negative zero)."""
    text = f"{value:.3f}"
    return 0.0 if text == "-0.000" else float(text)


@dataclass(frozen=True)
class PlotStats:
    """Every number printed on an image, already rounded as printed.

    ``counts[i]`` belongs to radius ``RING_RADII_UM[i]``; ``n_points`` is not
    printed but is their sum, so it stays derivable from the image.
    """

    counts: tuple[int, ...]
    x_avg: float
    y_avg: float
    x_std: float
    y_std: float

    @property
    def n_points(self) -> int:
        return int(sum(self.counts))

    def as_metadata(self) -> dict[str, float | int]:
        """Flat ground-truth keys for OCR scoring: ``count_r05``..``count_r50``, stats, ``n_points``."""
        metadata: dict[str, float | int] = {
            count_key(radius): int(count) for radius, count in zip(RING_RADII_UM, self.counts, strict=True)
        }
        metadata.update({key: getattr(self, key) for key in STAT_KEYS})
        metadata["n_points"] = self.n_points
        return metadata

    def stat_text(self, key: str) -> str:
        return f"{getattr(self, key):.3f}"


def compute_stats(points: np.ndarray) -> PlotStats:
    """Per-annulus counts and X/Y mean/std of the visible points (see the module docstring)."""
    kept = visible_points(points)
    xs, ys = np.ascontiguousarray(kept[:, 0]), np.ascontiguousarray(kept[:, 1])
    ring = np.searchsorted(np.asarray(RING_RADII_UM, dtype=np.float64), np.hypot(xs, ys), side="left")
    counts = tuple(int(c) for c in np.bincount(ring, minlength=len(RING_RADII_UM))[: len(RING_RADII_UM)])
    if len(kept) == 0:
        return PlotStats(counts, 0.0, 0.0, 0.0, 0.0)
    return PlotStats(
        counts=counts,
        x_avg=_printed(float(xs.mean())),
        y_avg=_printed(float(ys.mean())),
        x_std=_printed(float(xs.std())),
        y_std=_printed(float(ys.std())),
    )
