"""How well a method read the numbers printed on the images (OCR), against ground truth.

A method may return the numbers it read per test image (``Predictions.readings``);
datasets that know the printed values put them in each sample's metadata under
the same keys (``ase-synth`` does). Scored here, from the stored readings, so
the figures are recomputable like every other metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def score_readings(
    readings: Mapping[str, Sequence[float | None]], truths: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """Share of numbers read exactly, share read at all, and mean absolute error, overall and per key.

    Only keys that the ground truth carries count; ``None`` when none does
    (e.g. NEU-DET images print no numbers). A number is exact when it equals
    the truth to the printed precision (integers exactly, decimals within 5e-4).
    """
    per_key: dict[str, dict[str, float | int | None]] = {}
    exact_total = read_total = count_total = 0
    errors: list[float] = []
    for key, values in readings.items():
        pairs = [
            (v, truth) for v, t in zip(values, truths, strict=True) if isinstance(truth := t.get(key), (int, float))
        ]
        if not pairs:
            continue
        read = [(float(v), float(t)) for v, t in pairs if v is not None and not math.isnan(float(v))]
        diffs = [abs(v - t) for v, t in read]
        exact = sum(d <= 5e-4 for d in diffs)
        per_key[key] = {
            "count": len(pairs),
            "read_share": len(read) / len(pairs),
            "exact_share": exact / len(pairs),
            "mae": float(np.mean(diffs)) if diffs else None,
        }
        exact_total += exact
        read_total += len(read)
        count_total += len(pairs)
        errors += diffs
    if not count_total:
        return None
    return {
        "numbers": count_total,
        "exact_share": exact_total / count_total,
        "read_share": read_total / count_total,
        "mae": float(np.mean(errors)) if errors else None,
        "per_key": per_key,
    }
