"""What an ASE AOI image prints: the radius rings and the four statistics (the ASE paper's images).

One definition for both sides: the synthetic generator draws these labels and
numbers, and the OCR parser and the paper model read them back under the same
flat keys (``count_r05`` .. ``count_r50``, ``x_avg`` ...), so a reading can be
scored against a dataset's ground truth key by key.
"""

from __future__ import annotations

from collections.abc import Mapping

RING_RADII_UM: tuple[int, ...] = tuple(range(5, 51, 5))
STAT_KEYS: tuple[str, ...] = ("x_avg", "y_avg", "x_std", "y_std")
STAT_LABELS: Mapping[str, str] = {
    "x_avg": "X-axis-avg",
    "y_avg": "Y-axis-avg",
    "x_std": "X-axis-std",
    "y_std": "Y-axis-std",
}


def count_key(radius: int) -> str:
    """Flat key of a radius row's point count: ``count_r05`` for 5 µm."""
    return f"count_r{radius:02d}"
