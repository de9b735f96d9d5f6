"""Synthetic ASE AOI images: drill-offset clouds rendered as a polar target plot plus a printed table.

The real ASE data is not public (the ASE paper, arXiv 2404.05183, shows examples only), so this
package imitates its look. One job per module:

* :mod:`.clouds`: the latent per-class cloud parameters and the point sampler
  (classes differ only through its parameters);
* :mod:`.table`: the numbers printed beside the plot, computed from the very
  points that are plotted;
* :mod:`.rendering`: drawing the plot, the dots and the table;
* this module: which samples exist, each sample's own random stream, and one
  sample from draw to PNG bytes.

**Each sample owns its random stream** ``default_rng([seed, class, number])``,
so a sample does not depend on generation order or on how many samples the
other classes have (``scale`` only adds or removes samples at the end).

Nothing here touches the file system except :func:`encode_png` returning bytes;
the adapter owns caching.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

import numpy as np
from PIL import Image

from asebench.datasets.ase_synth.clouds import CLASS_NAMES, draw_params, sample_points, visible_points
from asebench.datasets.ase_synth.rendering import RenderAssets, RenderedAOI, build_assets, render_aoi

GENERATOR_VERSION = "1"
"""Bump on any change that alters generated pixels or numbers (it names the cache directory)."""

BASE_COUNTS: Mapping[str, int] = {"normal": 225, "type1": 92, "type2": 44, "type3": 50, "type4": 44}
MIN_PER_CLASS = 5


def class_counts(scale: float = 1.0) -> dict[str, int]:
    """Samples per class: the paper's 225/92/44/50/44 times ``scale``, at least 5 each.

    The minimum keeps every class present for stratified splits of tiny test sets.
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return {name: max(MIN_PER_CLASS, math.floor(count * scale + 0.5)) for name, count in BASE_COUNTS.items()}


def sample_plan(scale: float = 1.0) -> list[tuple[str, str, int]]:
    """``(sample_id, label, number)`` for every sample, numbers starting at 1 within a class."""
    return [
        (f"{label}_{number:04d}", label, number)
        for label, count in class_counts(scale).items()
        for number in range(1, count + 1)
    ]


def sample_rng(seed: int, label: str, number: int) -> np.random.Generator:
    """The sample's own random stream, independent of every other sample."""
    return np.random.default_rng([seed, CLASS_NAMES.index(label), number])


def simulate_points(
    label: str, number: int, *, seed: int = 0, separation: float = 1.0, points_scale: float = 1.0
) -> np.ndarray:
    """The visible points of sample ``number`` of ``label``, without rendering (fast path for statistics)."""
    rng = sample_rng(seed, label, number)
    params = draw_params(label, rng, separation=separation, points_scale=points_scale)
    return visible_points(sample_points(params, rng))


def generate_sample(
    label: str,
    number: int,
    *,
    seed: int = 0,
    separation: float = 1.0,
    points_scale: float = 1.0,
    assets: RenderAssets | None = None,
) -> RenderedAOI:
    """Sample ``number`` (1-based) of class ``label``: deterministic in all arguments."""
    points = simulate_points(label, number, seed=seed, separation=separation, points_scale=points_scale)
    return render_aoi(points, assets=assets if assets is not None else build_assets())


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes with fixed settings and no metadata chunks, so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=3, optimize=False)
    return buffer.getvalue()
