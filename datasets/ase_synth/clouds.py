"""Sampling the drill offsets of one panel: a shared point sampler whose parameters each class moves.

**Classes differ only through the parameters of one shared point sampler.**
A defect class draws a normal sample's parameters and then moves them by
``separation * delta``; with ``separation = 0`` every class is statistically
identical to ``normal``, which makes the difficulty knob honest. Holes
farther than 50 µm from the origin fall outside the plot: :func:`visible_points`
drops them before anything is counted, drawn or averaged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("normal", "type1", "type2", "type3", "type4")
NORMAL_CLASS = "normal"

PLOT_RADIUS_UM = 50.0
HOLES_RANGE = (20_000, 60_000)
MIN_HOLES = 50


@dataclass(frozen=True)
class CloudParams:
    """Latent drill-offset distribution of one panel (never stored: it would leak the label).

    The cloud is a mixture of a rotated anisotropic Gaussian around ``center``,
    an optional copy of it shifted by ``second_offset`` (weight
    ``second_weight``), and a heavy-tailed Student-t halo (weight
    ``halo_weight``, scale ``halo_scale``, ``halo_df`` degrees of freedom).
    """

    n_holes: int
    center: tuple[float, float]
    sigma_major: float
    sigma_minor: float
    angle: float
    second_weight: float = 0.0
    second_offset: tuple[float, float] = (0.0, 0.0)
    halo_weight: float = 0.0
    halo_scale: float = 10.0
    halo_df: float = 3.0


def _polar(magnitude: float, direction: float) -> tuple[float, float]:
    return (magnitude * math.cos(direction), magnitude * math.sin(direction))


def _with_aspect(params: CloudParams, spread: float, ratio: float) -> CloudParams:
    """Set the Gaussian's geometric-mean spread and major/minor ratio (area-preserving)."""
    root = math.sqrt(ratio)
    return replace(params, sigma_major=spread * root, sigma_minor=spread / root)


def _normal_params(rng: np.random.Generator, n_holes: int) -> CloudParams:
    """A healthy panel: small random centring error, near-isotropic spread, a faint halo."""
    center = _polar(float(rng.rayleigh(2.0)), float(rng.uniform(0.0, 2.0 * math.pi)))
    params = CloudParams(
        n_holes=n_holes,
        center=center,
        sigma_major=0.0,
        sigma_minor=0.0,
        angle=float(rng.uniform(0.0, math.pi)),
        halo_weight=float(rng.uniform(0.0, 0.02)),
        halo_scale=float(rng.uniform(8.0, 12.0)),
    )
    return _with_aspect(params, float(rng.uniform(6.0, 9.0)), float(rng.uniform(1.0, 1.3)))


def _drift(params: CloudParams, rng: np.random.Generator, separation: float) -> CloudParams:
    """type1, offset drift: the whole cloud moves, mostly towards +DX/+DY (thermal growth of the gantry)."""
    magnitude = separation * float(rng.uniform(2.0, 9.0))
    direction = math.pi / 4.0 + float(rng.normal(0.0, 0.6))
    dx, dy = _polar(magnitude, direction)
    return replace(params, center=(params.center[0] + dx, params.center[1] + dy))


def _elongation(params: CloudParams, rng: np.random.Generator, separation: float) -> CloudParams:
    """type2, spindle wobble: the spread stretches along a random principal axis."""
    spread = math.sqrt(params.sigma_major * params.sigma_minor)
    ratio = (params.sigma_major / params.sigma_minor) * (1.0 + separation * float(rng.uniform(0.6, 2.4)))
    return _with_aspect(params, spread, ratio)


def _bimodal(params: CloudParams, rng: np.random.Generator, separation: float) -> CloudParams:
    """type3, tool change / two spindles: a share of the holes forms a second, shifted cluster."""
    offset = _polar(separation * float(rng.uniform(6.0, 15.0)), float(rng.uniform(0.0, 2.0 * math.pi)))
    return replace(params, second_weight=float(rng.uniform(0.25, 0.5)), second_offset=offset)


def _vibration(params: CloudParams, rng: np.random.Generator, separation: float) -> CloudParams:
    """type4, vibration: wider scatter and a heavier halo of stray holes reaching the outer rings."""
    spread = math.sqrt(params.sigma_major * params.sigma_minor) * (1.0 + separation * float(rng.uniform(0.1, 0.4)))
    ratio = params.sigma_major / params.sigma_minor
    return replace(
        _with_aspect(params, spread, ratio),
        halo_weight=params.halo_weight + separation * float(rng.uniform(0.03, 0.12)),
        halo_scale=params.halo_scale * (1.0 + separation * float(rng.uniform(0.2, 0.8))),
    )


_DEFECTS = {"type1": _drift, "type2": _elongation, "type3": _bimodal, "type4": _vibration}


def draw_params(
    label: str, rng: np.random.Generator, *, separation: float = 1.0, points_scale: float = 1.0
) -> CloudParams:
    """Draw one sample's latent parameters for ``label``.

    Defect classes start from a normal draw and move it by ``separation``
    times a random delta, so their ranges overlap normal's natural variation.
    """
    if label not in CLASS_NAMES:
        raise ValueError(f"unknown class {label!r}; expected one of {CLASS_NAMES}")
    if separation < 0:
        raise ValueError(f"separation must be >= 0, got {separation}")
    low, high = HOLES_RANGE
    n_holes = max(MIN_HOLES, round(int(rng.integers(low, high + 1)) * points_scale))
    params = _normal_params(rng, n_holes)
    defect = _DEFECTS.get(label)
    return params if defect is None else defect(params, rng, separation)


def sample_points(params: CloudParams, rng: np.random.Generator) -> np.ndarray:
    """All ``n_holes`` drill offsets in µm as an ``(n, 2)`` float array (DX, DY), before clipping."""
    n = params.n_holes
    component = rng.random(n)
    is_halo = component < params.halo_weight
    is_second = ~is_halo & (component < params.halo_weight + params.second_weight * (1.0 - params.halo_weight))
    cos, sin = math.cos(params.angle), math.sin(params.angle)
    shape = np.array(
        [[cos * params.sigma_major, -sin * params.sigma_minor], [sin * params.sigma_major, cos * params.sigma_minor]]
    )
    points = rng.standard_normal((n, 2)) @ shape.T + np.asarray(params.center)
    points[is_second] += np.asarray(params.second_offset)
    n_halo = int(is_halo.sum())
    if n_halo:
        scale = params.halo_scale / np.sqrt(rng.chisquare(params.halo_df, n_halo) / params.halo_df)
        points[is_halo] = np.asarray(params.center) + rng.standard_normal((n_halo, 2)) * scale[:, None]
    return points


def visible_points(points: np.ndarray) -> np.ndarray:
    """The points inside the 50 µm plot circle: the only ones drawn, counted and averaged."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points[np.hypot(points[:, 0], points[:, 1]) <= PLOT_RADIUS_UM]
