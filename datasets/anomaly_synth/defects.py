"""Synthetic defects of ``anomaly-synth``, each drawn mask first.

Every defect first decides *which pixels it covers* (a boolean mask: a line,
a random-walk crack, a blob, a cut-away or added piece of the object) and
then how those pixels look. :func:`apply_defect` builds the defective image
as the normal image outside the mask and the re-finished scene inside it, and
:func:`force_change` moves any masked pixel that came out equal (or nearly
equal) to the normal one by :data:`MIN_CHANGE` grey levels. Hence, exactly:

    ``any(defective != normal, axis=-1) == mask``

so the ground-truth mask is the set of altered pixels, no more, no less.

Kinds: textures get ``scratch``, ``hole``, ``stain``, ``crack``; objects get
``scratch``, ``stain``, ``crack``, ``missing_part``, ``extra_part``. Each
defect draws its size from a wide range (about 0.6x to 1.6x a kind's typical
size), scaled by :data:`DEFECT_SCALE`, the knob that sets how hard the set is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from asebench.datasets.anomaly_synth.scenes import OBJECTS, TEXTURES, Scene, coordinates, finish, rotated, smooth_noise
from asebench.datasets.anomaly_synth.styles import DomainStyle

TEXTURE_KINDS = ("scratch", "hole", "stain", "crack")
OBJECT_KINDS = ("scratch", "stain", "crack", "missing_part", "extra_part")
ALL_KINDS = ("scratch", "hole", "stain", "crack", "missing_part", "extra_part")

DEFECT_SCALE = 1.5
"""Multiplies every defect's size; tuned so a frozen ImageNet backbone separates normal from defective
clearly but not perfectly (README, "Datasets")."""

MIN_CHANGE = 3
"""A masked pixel differs from the normal one by at least this many grey levels in some channel."""


def kinds_of(category: str) -> tuple[str, ...]:
    """The defect kinds of a category: objects can lose or gain a part, textures can get a hole."""
    if category in TEXTURES:
        return TEXTURE_KINDS
    if category in OBJECTS:
        return OBJECT_KINDS
    raise ValueError(f"unknown category {category!r}")


def apply_defect(
    scene: Scene, normal: np.ndarray, kind: str, style: DomainStyle, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(defective image, mask)`` for ``normal = render(scene)``; they differ exactly on the mask."""
    if kind not in kinds_of(scene.category):
        raise ValueError(f"{scene.category} has no defect kind {kind!r} (kinds: {', '.join(kinds_of(scene.category))})")
    size_factor = DEFECT_SCALE * rng.uniform(0.6, 1.6)
    mask, surface = _DRAW[kind](scene, style, rng, size_factor)
    if not mask.any():  # a degenerate draw (cannot happen with the placements below, kept as a guard)
        mask = _disc(scene.size, _place(scene, rng), 2.0)
        surface = scene.surface * 0.5
    redrawn = finish(surface, scene.light, scene.noise)
    defective = normal.copy()
    defective[mask] = redrawn[mask]
    return force_change(normal, defective, mask), mask


def force_change(normal: np.ndarray, defective: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Move masked pixels that changed by less than :data:`MIN_CHANGE` levels, away from the nearer end.

    A dark pixel (mean below 128) is brightened, a bright one darkened, in
    every channel: at least one channel then moves by the full step, so the
    pixel differs from ``normal`` for sure.
    """
    change = np.abs(defective.astype(np.int16) - normal.astype(np.int16)).max(axis=-1)
    weak = mask & (change < MIN_CHANGE)
    if not weak.any():
        return defective
    base = normal[weak].astype(np.int16)
    step = np.where(base.mean(axis=-1, keepdims=True) < 128, MIN_CHANGE, -MIN_CHANGE)
    out = defective.copy()
    out[weak] = np.clip(base + step, 0, 255).astype(np.uint8)
    return np.asarray(out)


# -- where a defect goes ---------------------------------------------------


def _place(scene: Scene, rng: np.random.Generator, margin: float = 0.12) -> tuple[float, float]:
    """A point on the part: anywhere but the border on a texture, well inside the object otherwise."""
    size = scene.size
    if scene.alpha is None:
        low, high = margin * size, (1.0 - margin) * size
        return float(rng.uniform(low, high)), float(rng.uniform(low, high))
    rows, cols = np.nonzero(_eroded(scene.alpha >= 1.0, 2))
    if rows.size == 0:
        rows, cols = np.nonzero(scene.alpha >= 0.5)
    pick = int(rng.integers(rows.size))
    return float(cols[pick]), float(rows[pick])


def _edge_point(scene: Scene, rng: np.random.Generator) -> tuple[float, float]:
    """A point on the object's outline (partly covered pixels)."""
    assert scene.alpha is not None
    rows, cols = np.nonzero((scene.alpha > 0.2) & (scene.alpha < 0.8))
    pick = int(rng.integers(rows.size))
    return float(cols[pick]), float(rows[pick])


def _eroded(region: np.ndarray, steps: int) -> np.ndarray:
    out = region.copy()
    for _ in range(steps):
        shrunk = out.copy()
        shrunk[1:, :] &= out[:-1, :]
        shrunk[:-1, :] &= out[1:, :]
        shrunk[:, 1:] &= out[:, :-1]
        shrunk[:, :-1] &= out[:, 1:]
        out = shrunk
    return np.asarray(out)


def _on_part(scene: Scene, mask: np.ndarray) -> np.ndarray:
    """Surface defects of an object stay on the object."""
    return mask if scene.alpha is None else mask & (scene.alpha >= 0.5)


def _line_mask(size: int, points: list[tuple[float, float]], width: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).line(points, fill=255, width=width, joint="curve")
    return np.asarray(canvas) > 0


def _disc(size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    x, y = coordinates(size)
    half = (size - 1) / 2.0
    return np.asarray(np.hypot(x + half - centre[0], y + half - centre[1]) <= radius)


def _blob(size: int, centre: tuple[float, float], radius: float, rng: np.random.Generator) -> np.ndarray:
    """An irregular, elongated blob: an ellipse with a noisy outline."""
    x, y = coordinates(size)
    half = (size - 1) / 2.0
    u, v = rotated(x + half - centre[0], y + half - centre[1], rng.uniform(0.0, math.pi))
    stretch = rng.uniform(1.0, 1.8)
    distance = np.hypot(u / stretch, v * math.sqrt(stretch)) / radius
    wobble = smooth_noise(size, max(3, int(size / (1.5 * radius + 1.0))), rng)
    return np.asarray(distance + 0.25 * wobble < 1.0)


# -- the kinds ---------------------------------------------------------------

Drawer = Callable[[Scene, DomainStyle, np.random.Generator, float], tuple[np.ndarray, np.ndarray]]


def _scratch(
    scene: Scene, style: DomainStyle, rng: np.random.Generator, factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """A thin, slightly bent line, brighter (a polished groove) or darker than the surface."""
    size = scene.size
    start = _place(scene, rng)
    length = size * 0.18 * factor
    bend = rng.normal(0.0, 0.3)
    width = max(1, round(size / 110))

    def line(heading: float) -> np.ndarray:
        points = [
            (start[0] + t * length * math.cos(heading + bend * t), start[1] + t * length * math.sin(heading + bend * t))
            for t in np.linspace(0.0, 1.0, 8)
        ]
        return _line_mask(size, points, width)

    mask = _longest_on_part(scene, [line(h) for h in _headings(scene, rng)])
    bright = rng.random() < 0.5
    return mask, scene.surface + 0.45 * (1.0 - scene.surface) if bright else scene.surface * 0.5


def _crack(scene: Scene, style: DomainStyle, rng: np.random.Generator, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """A dark, jagged random walk with an optional branch."""
    size = scene.size
    start = _place(scene, rng)
    steps = max(4, int(size * 0.16 * factor / 2.0))
    turns = rng.normal(0.0, 0.45, steps)
    branched, branch_turn = rng.random() < 0.6, rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.1)
    branch_turns = rng.normal(0.0, 0.45, steps // 2)

    def walk(origin: tuple[float, float], heading: float, deltas: np.ndarray) -> list[tuple[float, float]]:
        points = [origin]
        for delta in deltas:
            heading += float(delta)
            points.append((points[-1][0] + 2.0 * math.cos(heading), points[-1][1] + 2.0 * math.sin(heading)))
        return points

    def crack(heading: float) -> np.ndarray:
        trunk = walk(start, heading, turns)
        mask = _line_mask(size, trunk, 1)
        if branched:
            fork_heading = heading + float(turns[: steps // 2].sum()) + branch_turn
            mask |= _line_mask(size, walk(trunk[steps // 2], fork_heading, branch_turns), 1)
        return mask

    return _longest_on_part(scene, [crack(h) for h in _headings(scene, rng)]), scene.surface * 0.3


def _headings(scene: Scene, rng: np.random.Generator) -> list[float]:
    """One random direction on a texture; on an object six, of which the one staying on the part wins."""
    first = rng.uniform(0.0, 2.0 * math.pi)
    count = 1 if scene.alpha is None else 6
    return [first + i * 2.0 * math.pi / count for i in range(count)]


def _longest_on_part(scene: Scene, masks: list[np.ndarray]) -> np.ndarray:
    """The candidate line with the most pixels on the part, cut to the part."""
    kept = [_on_part(scene, mask) for mask in masks]
    return max(kept, key=lambda mask: int(mask.sum()))


def _hole(scene: Scene, style: DomainStyle, rng: np.random.Generator, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """A round hole: near black in the middle, a darkened rim."""
    size = scene.size
    centre = _place(scene, rng)
    radius = max(1.5, size * 0.03 * factor)
    mask = _disc(size, centre, radius)
    x, y = coordinates(size)
    half = (size - 1) / 2.0
    depth = 1.0 - np.clip(np.hypot(x + half - centre[0], y + half - centre[1]) / radius, 0.0, 1.0)
    surface = scene.surface * (0.55 - 0.45 * depth)[..., None]
    return mask, surface


def _stain(scene: Scene, style: DomainStyle, rng: np.random.Generator, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """A blotch that tints the surface with the domain's stain colour, strongest in its middle."""
    size = scene.size
    centre = _place(scene, rng)
    radius = size * 0.06 * factor
    mask = _on_part(scene, _blob(size, centre, radius, rng))
    strength = rng.uniform(0.45, 0.75)
    tinted = scene.surface * np.asarray(style.stain)
    surface = scene.surface + strength * (tinted - scene.surface)
    return mask, surface


def _missing_part(
    scene: Scene, style: DomainStyle, rng: np.random.Generator, factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """A bite out of the object's outline: the table shows through where the part was."""
    assert scene.alpha is not None
    radius = scene.size * 0.06 * factor
    cut = _disc(scene.size, _edge_point(scene, rng), radius)
    mask = cut & (scene.alpha > 0.0)
    return mask, scene.with_alpha(np.where(mask, 0.0, scene.alpha)).surface


def _extra_part(
    scene: Scene, style: DomainStyle, rng: np.random.Generator, factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """A lump of the object's material stuck to its outline (flash, a burr, a blob of excess)."""
    assert scene.alpha is not None
    radius = scene.size * 0.045 * factor
    lump = _blob(scene.size, _edge_point(scene, rng), radius, rng)
    mask = lump & (scene.alpha < 1.0)
    return mask, scene.with_alpha(np.where(mask, 1.0, scene.alpha)).surface


_DRAW: dict[str, Drawer] = {
    "scratch": _scratch,
    "hole": _hole,
    "stain": _stain,
    "crack": _crack,
    "missing_part": _missing_part,
    "extra_part": _extra_part,
}
