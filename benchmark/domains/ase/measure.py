"""Measure the pink dot cloud of an AOI scatter plot from its pixels (or, without one, the texture).

This is image measurement, not a vision-language model: every number comes
from counting coloured pixels. It feeds the offline ``dot-cloud-describer``
stand-in and, as plain features, the ``numeric-reasoner``.

Geometry. The plot is in the left half of a wide image (the whole image
otherwise). Its centre is where the two longest dark lines (the DX and DY
axes) cross; its radius is the outermost dark crossing (a ring) on a row just
below the horizontal axis. Without axes the centre of the plot region and 45 %
of its short side stand in. Positions are in shares of that radius, with +y
pointing up, so ``offset_x = 0.2`` means "a fifth of the outer ring to the right".

Dot pixels are pinkish: red well above green and blue between them
(``(B - G) > 0.35 (R - G)``), which excludes black ink, the dark-red
tolerance ring and grey paper. A pixel's weight is its darkness ``1 - G/255``,
which grows with the number of overlapping dots until it saturates.

Cloud keys (``has_dot_cloud = 1``): ``offset_x``, ``offset_y``, ``offset``,
``offset_angle_deg`` (0 = right, 90 = up), ``std_x``, ``std_y``, ``spread``,
``major_sd``, ``minor_sd``, ``elongation`` (major/minor), ``orientation_deg``
(major axis, 0..180), ``q_top_right``, ``q_top_left``, ``q_bottom_left``,
``q_bottom_right`` (weight shares by quadrant of the plot axes),
``radius_p50``/``radius_p90`` (weighted distance from the plot centre),
``n_clusters``, ``halo_share`` (share of dot pixels farther from the centroid than
2.5 weighted median Mahalanobis distances: about 1 % for a plain Gaussian cloud),
``outer_reach`` (99th percentile distance of dot pixels), ``cloud_area``
(dot pixels / plot disc area), ``axes_found`` (1 when the centre came from the axes).

Texture keys (``has_dot_cloud = 0``): ``brightness``, ``contrast``,
``edge_strength``, ``edge_orientation_deg`` (direction edges run, 0 =
horizontal), ``edge_coherence`` (0 = no preferred direction, 1 = all
parallel), ``dark_share``, ``bright_share``, ``colourfulness``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from asebench.annotation.image_input import ImageLike, to_pil

MEASURE_VERSION = "1"
"""Bump on any change to the numbers: it is part of the feature cache key and the describer's version."""

_MIN_DOT_PIXELS = 50
_MIN_DOT_SHARE = 0.0005
_DARK_INK = 110
_GRID = 40
_PEAK_FLOOR = 0.3
_SADDLE = 0.75
_HALO_RADII = 2.5  # a dot farther than 2.5 weighted median (Mahalanobis) distances from the centroid is halo


@dataclass(frozen=True)
class PlotFrame:
    """Centre (x, y, continuous: pixel ``i`` spans ``i..i+1``) and radius of the plot in pixels; ``from_axes`` is False for the fallback."""

    cx: float
    cy: float
    radius: float
    from_axes: bool


def measure(image: ImageLike) -> dict[str, float]:
    """The cloud features of an AOI plot, or texture features of any other image (see the module docstring)."""
    rgb = np.asarray(to_pil(image, "RGB"), dtype=np.float32)
    weight = dot_weights(rgb)
    if np.count_nonzero(weight) < max(_MIN_DOT_PIXELS, _MIN_DOT_SHARE * weight.size):
        return {"has_dot_cloud": 0.0, **texture_features(rgb)}
    plot = slice(0, plot_width(rgb))
    rgb, weight = rgb[:, plot], weight[:, plot]
    frame = find_plot_frame(rgb)
    return {"has_dot_cloud": 1.0, **cloud_features(fill_occluded(weight, rgb), weight > 0, frame)}


def plot_width(rgb: np.ndarray) -> int:
    """Columns of the plot: the left half of a wide image (the table is on the right), else all."""
    height, width = rgb.shape[:2]
    return width // 2 if width > 1.3 * height else width


def dot_weights(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel dot weight in 0..1: darkness of pinkish pixels, zero elsewhere."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    red_green, blue_green = red - green, blue - green
    pink = (red_green > 25.0) & (blue_green > 0.35 * red_green) & (blue_green > 8.0)
    return np.where(pink, np.clip(1.0 - green / 255.0, 0.0, 1.0), 0.0).astype(np.float64)


def fill_occluded(weight: np.ndarray, rgb: np.ndarray, halo: int = 3, sigma: float = 6.0) -> np.ndarray:
    """Give dot-free pixels hidden under printed text the local average weight of their visible neighbours.

    Tick labels are printed over the cloud with a white halo (left of the DY
    axis, right where a centred cloud is densest); left as holes they pull
    the centroid away from that side. Text is told from the rings and axes by
    size: the rings and axes form one large connected dark shape, a glyph a
    small one. Hidden pixels are filled by normalised convolution.
    """
    dark = rgb.max(axis=2) < _DARK_INK
    labels, count = ndimage.label(dark, structure=np.ones((3, 3)))
    if count == 0:
        return weight
    limit = 0.06 * min(dark.shape)
    boxes = ndimage.find_objects(labels)
    small = np.zeros(count + 1, dtype=bool)
    for index, box in enumerate(boxes, start=1):
        small[index] = max(box[0].stop - box[0].start, box[1].stop - box[1].start) <= limit
    text = small[labels]
    hidden = ndimage.binary_dilation(text, iterations=halo)
    visible = (~hidden).astype(np.float64)
    numerator = ndimage.gaussian_filter(weight * visible, sigma)
    denominator = ndimage.gaussian_filter(visible, sigma)
    estimate = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0.05)
    return np.where(hidden & (weight == 0), estimate, weight)


# --------------------------------------------------------------------------- plot frame


def find_plot_frame(rgb: np.ndarray) -> PlotFrame:
    """Axes crossing and outer ring of the plot region ``rgb`` (module docstring); its centre when there are no axes."""
    height, width = rgb.shape[:2]
    dark = rgb.max(axis=2) < _DARK_INK
    short = min(width, height)
    row, row_run = _longest_line(dark)
    col, col_run = _longest_line(dark.T)
    if row_run < 0.4 * short or col_run < 0.4 * short:
        return PlotFrame(width / 2.0, height / 2.0, 0.45 * short, from_axes=False)
    radius = _outer_ring(dark, row, col) or 0.5 * min(row_run, col_run)
    return PlotFrame(col + 0.5, row + 0.5, float(radius), from_axes=True)  # pixel index -> continuous position


def _longest_line(dark: np.ndarray) -> tuple[float, int]:
    """The row (fractional: centre of an anti-aliased thick line) with the longest dark run, and that run."""
    runs = np.array([_longest_run(line) for line in dark])
    best = int(runs.max()) if runs.size else 0
    if best == 0:
        return 0.0, 0
    rows = np.flatnonzero(runs >= 0.8 * best)
    rows = rows[np.abs(rows - rows[np.argmax(runs[rows])]) <= 2]
    return float(np.average(rows, weights=runs[rows])), best


def _longest_run(line: np.ndarray) -> int:
    if not line.any():
        return 0
    padded = np.concatenate(([0], line.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def _outer_ring(dark: np.ndarray, row: float, col: float) -> float | None:
    """Distance from the vertical axis to the outermost dark pixel on a row just below the horizontal axis."""
    offset = max(3, round(0.01 * dark.shape[0]))
    probe = min(dark.shape[0] - 1, round(row) + offset)
    columns = np.flatnonzero(dark[probe])
    columns = columns[np.abs(columns - col) > 2 * offset]
    if columns.size == 0:
        return None
    reach = float(np.abs(columns - col).max())
    return math.sqrt(reach**2 + offset**2)


# --------------------------------------------------------------------------- cloud


def cloud_features(weight: np.ndarray, dots: np.ndarray, frame: PlotFrame) -> dict[str, float]:
    """Position, spread, shape, quadrants and clusters of the weights; halo and reach of the visible ``dots``."""
    rows, cols = np.nonzero(weight)
    w = weight[rows, cols]
    x = (cols + 0.5 - frame.cx) / frame.radius
    y = (frame.cy - rows - 0.5) / frame.radius
    dot_rows, dot_cols = np.nonzero(dots)
    dot_x = (dot_cols + 0.5 - frame.cx) / frame.radius
    dot_y = (frame.cy - dot_rows - 0.5) / frame.radius
    total = float(w.sum())
    mx, my = float(np.dot(w, x) / total), float(np.dot(w, y) / total)
    dx, dy = x - mx, y - my
    cov = np.array([[np.dot(w, dx * dx), np.dot(w, dx * dy)], [np.dot(w, dx * dy), np.dot(w, dy * dy)]]) / total
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    minor_sd, major_sd = (math.sqrt(max(v, 0.0)) for v in eigenvalues)
    major = eigenvectors[:, 1]
    radius_from_centre = np.hypot(x, y)
    precision = np.linalg.pinv(cov)
    core = _HALO_RADII * _weighted_quantile(_mahalanobis(dx, dy, precision), w, 0.5)
    dot_from_centroid = _mahalanobis(dot_x - mx, dot_y - my, precision)
    quadrants = {
        "q_top_right": (x >= 0) & (y >= 0),
        "q_top_left": (x < 0) & (y >= 0),
        "q_bottom_left": (x < 0) & (y < 0),
        "q_bottom_right": (x >= 0) & (y < 0),
    }
    return {
        "offset_x": mx,
        "offset_y": my,
        "offset": math.hypot(mx, my),
        "offset_angle_deg": math.degrees(math.atan2(my, mx)) % 360.0,
        "std_x": math.sqrt(cov[0, 0]),
        "std_y": math.sqrt(cov[1, 1]),
        "spread": math.sqrt(cov[0, 0] + cov[1, 1]),
        "major_sd": major_sd,
        "minor_sd": minor_sd,
        "elongation": major_sd / max(minor_sd, 1e-6),
        "orientation_deg": math.degrees(math.atan2(major[1], major[0])) % 180.0,
        **{name: float(w[mask].sum() / total) for name, mask in quadrants.items()},
        "radius_p50": _weighted_quantile(radius_from_centre, w, 0.5),
        "radius_p90": _weighted_quantile(radius_from_centre, w, 0.9),
        "n_clusters": float(count_clusters(x, y, w)),
        "halo_share": float(np.mean(dot_from_centroid > core)),
        "outer_reach": float(np.quantile(np.hypot(dot_x, dot_y), 0.99)),
        "cloud_area": float(dot_rows.size / (math.pi * frame.radius**2)),
        "axes_found": 1.0 if frame.from_axes else 0.0,
    }


def _mahalanobis(dx: np.ndarray, dy: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Distance in units of the cloud's own spread along each direction (elongated clouds are not halo)."""
    return np.sqrt(
        np.maximum(precision[0, 0] * dx * dx + 2 * precision[0, 1] * dx * dy + precision[1, 1] * dy * dy, 0.0)
    )


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1]))
    return float(values[order][min(index, len(order) - 1)])


def count_clusters(x: np.ndarray, y: np.ndarray, w: np.ndarray, grid: int = _GRID) -> int:
    """Dense groups: peaks of a smoothed weight grid, merged when no saddle separates them.

    Two peaks belong to the same group when the smoothed density along the
    segment between them never drops below ``_SADDLE`` times the lower peak.
    """
    density, _, _ = np.histogram2d(y, x, bins=grid, range=[[-1.0, 1.0], [-1.0, 1.0]], weights=w)
    density = ndimage.gaussian_filter(density, sigma=1.0)
    top = density.max()
    if top <= 0:
        return 0
    is_peak = (density == ndimage.maximum_filter(density, size=3)) & (density >= _PEAK_FLOOR * top)
    peaks = [tuple(p) for p in np.argwhere(is_peak)]
    parent = list(range(len(peaks)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(peaks)):
        for j in range(i + 1, len(peaks)):
            if root(i) != root(j) and _connected(density, peaks[i], peaks[j]):
                parent[root(i)] = root(j)
    return len({root(i) for i in range(len(peaks))})


def _connected(density: np.ndarray, a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    steps = max(2, 2 * int(max(abs(a[0] - b[0]), abs(a[1] - b[1]))))
    t = np.linspace(0.0, 1.0, steps + 1)
    rows = np.rint(a[0] + t * (b[0] - a[0])).astype(int)
    cols = np.rint(a[1] + t * (b[1] - a[1])).astype(int)
    return bool(density[rows, cols].min() >= _SADDLE * min(density[a], density[b]))


# --------------------------------------------------------------------------- texture


def texture_features(rgb: np.ndarray) -> dict[str, float]:
    """Brightness, contrast, dominant edge direction and blob shares of an image without a dot cloud."""
    gray = rgb.mean(axis=2)
    step = max(1, math.ceil(max(gray.shape) / 256))
    small = ndimage.uniform_filter(gray, size=step)[::step, ::step] if step > 1 else gray
    smooth = ndimage.gaussian_filter(small, sigma=1.0)
    gy, gx = np.gradient(smooth)
    jxx, jyy, jxy = float(np.mean(gx * gx)), float(np.mean(gy * gy)), float(np.mean(gx * gy))
    energy = jxx + jyy
    coherence = math.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / energy if energy > 1e-9 else 0.0
    gradient_angle = 0.5 * math.atan2(2 * jxy, jxx - jyy)
    # image rows grow downward; flip the sign so angles are counter-clockwise as seen
    edge_angle = (math.degrees(-gradient_angle) + 90.0) % 180.0
    mean, std = float(smooth.mean()), float(smooth.std())
    spread = max(std, 1e-6)
    return {
        "brightness": mean / 255.0,
        "contrast": std / 255.0,
        "edge_strength": float(np.mean(np.hypot(gx, gy))) / 255.0,
        "edge_orientation_deg": edge_angle,
        "edge_coherence": coherence,
        "dark_share": float(np.mean(smooth < mean - 1.5 * spread)),
        "bright_share": float(np.mean(smooth > mean + 1.5 * spread)),
        "colourfulness": float(np.mean(rgb.max(axis=2) - rgb.min(axis=2))) / 255.0,
    }
