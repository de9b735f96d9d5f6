"""Words for measured geometry and seeded phrase choice, shared by the offline stand-in backends.

Seed 0 always takes the first phrasing of everything (a canonical text);
other seeds pick phrasings with ``numpy.random.default_rng(seed)``, so the
same seed gives the same words on every machine and the texts of a pool
differ in wording, never in the facts they state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DIRECTIONS: tuple[str, ...] = (
    "right",
    "top-right",
    "top",
    "top-left",
    "left",
    "bottom-left",
    "bottom",
    "bottom-right",
)
QUADRANT_WORDS = {
    "q_top_right": "top-right",
    "q_top_left": "top-left",
    "q_bottom_left": "bottom-left",
    "q_bottom_right": "bottom-right",
}


def direction_word(angle_deg: float) -> str:
    """The nearest of eight compass-like words for an angle (0 = right, 90 = top)."""
    return DIRECTIONS[round((angle_deg % 360.0) / 45.0) % 8]


def axis_phrase(orientation_deg: float) -> str:
    """An undirected axis (0..180 degrees) in words."""
    sector = round((orientation_deg % 180.0) / 45.0) % 4
    return (
        "the horizontal (left-right) axis",
        "the diagonal from bottom-left to top-right",
        "the vertical (top-bottom) axis",
        "the diagonal from top-left to bottom-right",
    )[sector]


def ordinal(number: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th`` ... ``11th`` ... ``21st``."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def percent(share: float) -> str:
    """A share as a whole percentage, ``0.456 -> '46%'``."""
    return f"{round(100.0 * share):d}%"


class Phrasing:
    """Picks one phrasing per slot: the first for seed 0, a seeded random one otherwise."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed != 0 else None

    def pick(self, options: Sequence[str]) -> str:
        if self._rng is None:
            return options[0]
        return options[int(self._rng.integers(len(options)))]

    def order(self, items: Sequence[str]) -> list[str]:
        """Seed 0 keeps the order; other seeds shuffle it (for sentences whose order carries no meaning)."""
        if self._rng is None:
            return list(items)
        return [items[i] for i in self._rng.permutation(len(items))]
