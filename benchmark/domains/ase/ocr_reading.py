"""What OCR read from one AOI image: the radius table and the four printed statistics.

The keys mirror the ``ase-synth`` metadata (``count_r05``..``count_r50``,
``x_avg``, ``y_avg``, ``x_std``, ``y_std``) so that a reading can be scored
against the generator's ground truth and so that datasets which ship the
numbers as metadata (``ocr: metadata``) produce the very same object.
Unread values are ``None`` (``NaN`` in vectors), never zero: a zero count is
a real reading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asebench.domains.ase.layout import RING_RADII_UM, STAT_KEYS, count_key

COUNT_KEYS: tuple[str, ...] = tuple(count_key(r) for r in RING_RADII_UM)
FLAT_KEYS: tuple[str, ...] = COUNT_KEYS + STAT_KEYS


@dataclass(frozen=True)
class OcrReading:
    """Numbers read from one image; ``None`` where a value could not be read.

    ``counts`` maps every radius 5..50 (step 5) to its per-annulus point count,
    ``stats`` maps ``x_avg``/``y_avg``/``x_std``/``y_std`` to floats; both
    always hold every key. ``engine``/``engine_version`` name what read them.
    """

    counts: Mapping[int, int | None]
    stats: Mapping[str, float | None]
    engine: str
    engine_version: str
    _flat: dict[str, float | int | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        counts = {r: _as_int(self.counts.get(r)) for r in RING_RADII_UM}
        stats = {k: _as_float(self.stats.get(k)) for k in STAT_KEYS}
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "stats", stats)
        flat: dict[str, float | int | None] = {count_key(r): counts[r] for r in RING_RADII_UM}
        flat.update(stats)
        object.__setattr__(self, "_flat", flat)

    @classmethod
    def empty(cls, engine: str, engine_version: str) -> OcrReading:
        """A reading of an image without a table (NEU-DET textures): every value unread."""
        return cls(counts={}, stats={}, engine=engine, engine_version=engine_version)

    @classmethod
    def from_flat(cls, values: Mapping[str, Any], engine: str, engine_version: str) -> OcrReading:
        """Build from flat keys (ase-synth metadata or :meth:`as_flat`); other keys are ignored."""
        counts = {r: values.get(count_key(r)) for r in RING_RADII_UM}
        stats = {k: values.get(k) for k in STAT_KEYS}
        return cls(counts=counts, stats=stats, engine=engine, engine_version=engine_version)

    def is_empty(self) -> bool:
        """True when not a single number was read."""
        return all(value is None for value in self._flat.values())

    def n_read(self) -> int:
        """How many of the 14 numbers were read."""
        return sum(value is not None for value in self._flat.values())

    def as_flat(self) -> dict[str, float | int | None]:
        """Exactly the ase-synth metadata keys (without ``n_points``), ``None`` where unread."""
        return dict(self._flat)

    def as_vector(self, keys: Sequence[str] = FLAT_KEYS) -> np.ndarray:
        """Float vector of ``keys`` in order, ``NaN`` where unread (for class statistics and models)."""
        unknown = [k for k in keys if k not in self._flat]
        if unknown:
            raise KeyError(f"unknown OCR keys {unknown}; known: {list(FLAT_KEYS)}")
        return np.array(
            [math.nan if (value := self._flat[k]) is None else float(value) for k in keys], dtype=np.float64
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (no NaN): the cache format."""
        return {"engine": self.engine, "engine_version": self.engine_version, "values": self.as_flat()}

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> OcrReading:
        return cls.from_flat(
            payload["values"], engine=str(payload["engine"]), engine_version=str(payload["engine_version"])
        )


def _as_int(value: Any) -> int | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"a point count must be a whole number, got {value!r}")
    return int(number)


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
