"""Synthetic ASE AOI images: drill-offset clouds rendered as a polar target plot plus a printed table.

The real ASE data is not public (see ``docs/ase-paper.md`` §1-2), so this module
imitates its look: a DX/DY target plot in µm with rings every 5 µm (the 35 µm
ring in dark red) and one pink dot per drilled hole, next to a table of
per-annulus point counts and the X/Y mean and standard deviation.

Design rules, each for a reason:

* **Every printed number is computed from the very points that are plotted.**
  Holes farther than 50 µm from the origin fall outside the plot; they are
  dropped before anything is counted, drawn or averaged, so the table, the
  statistics and the dots always agree. ``Radius R`` counts the points with
  ``R - 5 < r <= R`` (``r = 0`` goes to the 5 µm row); the statistics are the
  mean and the population standard deviation (``ddof=0``) of the kept points.
* **Classes differ only through the parameters of one shared point sampler.**
  A defect class draws a normal sample's parameters and then moves them by
  ``separation * delta``; with ``separation = 0`` every class is statistically
  identical to ``normal``, which makes the difficulty knob honest.
* **Each sample owns its random stream** ``default_rng([seed, class, number])``,
  so a sample does not depend on generation order or on how many samples the
  other classes have (``scale`` only adds or removes samples at the end).

Nothing here touches the file system except :func:`encode_png` returning bytes;
the adapter owns caching.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from asebench.domains.ase.layout import RING_RADII_UM, STAT_KEYS, STAT_LABELS, count_key

GENERATOR_VERSION = "1"
"""Bump on any change that alters generated pixels or numbers (it names the cache directory)."""

CLASS_NAMES: tuple[str, ...] = ("normal", "type1", "type2", "type3", "type4")
NORMAL_CLASS = "normal"
BASE_COUNTS: Mapping[str, int] = {"normal": 225, "type1": 92, "type2": 44, "type3": 50, "type4": 44}
MIN_PER_CLASS = 5

PLOT_RADIUS_UM = 50.0
TOLERANCE_RING_UM = 35
HOLES_RANGE = (20_000, 60_000)
MIN_HOLES = 50

DEFAULT_WIDTH = 800
DEFAULT_HEIGHT = 450
MIN_WIDTH = 480
MIN_HEIGHT = 300


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_WHITE = np.array([255.0, 255.0, 255.0])
_BLACK = np.array([0.0, 0.0, 0.0])
_PINK = np.array([242.0, 84.0, 184.0])
_MAGENTA = np.array([176.0, 0.0, 118.0])
_DARK_RED = np.array([150.0, 20.0, 20.0])
_DOT_ALPHA = 0.35  # opacity of one dot; overlapping dots saturate towards pure pink
_DEEPEN_HITS = 40.0  # dot hits per pixel at which the pink has darkened 63 % of the way to magenta


# --------------------------------------------------------------------------- sizes


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


# --------------------------------------------------------------------------- latent parameters


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


# --------------------------------------------------------------------------- points and statistics


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
            count_key(radius): int(count) for radius, count in zip(RING_RADII_UM, self.counts)
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


def simulate_points(
    label: str, number: int, *, seed: int = 0, separation: float = 1.0, points_scale: float = 1.0
) -> np.ndarray:
    """The visible points of sample ``number`` of ``label``, without rendering (fast path for statistics)."""
    rng = sample_rng(seed, label, number)
    params = draw_params(label, rng, separation=separation, points_scale=points_scale)
    return visible_points(sample_points(params, rng))


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of one image size: left half plot, right half table, font scaled to fit both."""

    width: int
    height: int
    font_px: int
    center: tuple[float, float]
    px_per_um: float
    table_left: int
    table_top: int
    column_split: int
    table_right: int
    row_height: int

    @classmethod
    def for_size(cls, width: int, height: int) -> Layout:
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            raise ValueError(f"image must be at least {MIN_WIDTH}x{MIN_HEIGHT}, got {width}x{height}")
        # height/30 fits the 16.5 table rows; width/53 fits "Accumulated points" in its column
        font_px = max(10, round(min(height / 30, width / 53)))
        half = width // 2
        radius_px = min(half / 2 - 8, height / 2 - 1.6 * font_px)
        row_height = round(font_px * 1.45)
        table_left = half + max(12, round(half * 0.08))
        table_right = width - max(12, round(half * 0.08))
        return cls(
            width=width,
            height=height,
            font_px=font_px,
            center=(half / 2, height / 2),
            px_per_um=radius_px / PLOT_RADIUS_UM,
            table_left=table_left,
            table_top=max(8, round((height - 16.5 * row_height) / 2)),
            column_split=table_left + round((table_right - table_left) * 0.35),
            table_right=table_right,
            row_height=row_height,
        )

    def to_pixels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Continuous pixel coordinates (column, row) of µm offsets; +DY points up."""
        return self.center[0] + points[:, 0] * self.px_per_um, self.center[1] - points[:, 1] * self.px_per_um

    def stats_top(self) -> int:
        return self.table_top + (len(RING_RADII_UM) + 1) * self.row_height + self.row_height


@dataclass(frozen=True)
class RenderAssets:
    """Everything identical across images of one size: layout, font, and the static layer.

    Build it once with :func:`build_assets` and pass it to every render call.
    Because the ink (rings, axes, labels) lies on top of the dots, a pixel's
    colour is affine in its dot opacity ``a`` and depth ``d``:
    ``paper + a * pink_gain + d * deep_gain``. The float32 ``HxWx3`` terms are
    precomputed here, so a render is two multiply-adds instead of five blends.
    """

    layout: Layout
    font: Font
    paper: np.ndarray
    pink_gain: np.ndarray
    deep_gain: np.ndarray


def build_assets(width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT) -> RenderAssets:
    """Draw the rings, axes, axis labels and table frame once per image size.

    Layers, bottom to top: dots, black rings/axes/grid, the dark-red 35 µm
    ring, a white halo behind the plot labels (so tick labels stay readable
    over a dense cloud), then black text.
    """
    layout = Layout.for_size(width, height)
    font = ImageFont.load_default(size=layout.font_px)
    black_lines, red_lines = _line_masks(layout)
    halo, text = Image.new("L", (width, height), 0), Image.new("L", (width, height), 0)
    _draw_plot_labels(ImageDraw.Draw(halo), layout, font, stroke=max(1, layout.font_px // 7))
    _draw_plot_labels(ImageDraw.Draw(text), layout, font, stroke=0)
    _draw_table_labels(ImageDraw.Draw(text), layout, font)
    paper = np.broadcast_to(_WHITE.astype(np.float32), (height, width, 3)).copy()
    pink_gain = np.broadcast_to((_PINK - _WHITE).astype(np.float32), (height, width, 3)).copy()
    deep_gain = np.broadcast_to((_MAGENTA - _PINK).astype(np.float32), (height, width, 3)).copy()
    for mask, color in ((black_lines, _BLACK), (red_lines, _DARK_RED), (_unit(halo), _WHITE), (_unit(text), _BLACK)):
        _apply_ink(paper, (pink_gain, deep_gain), mask, color)
    return RenderAssets(layout=layout, font=font, paper=paper, pink_gain=pink_gain, deep_gain=deep_gain)


def _unit(mask: Image.Image) -> np.ndarray:
    return np.asarray(mask, dtype=np.float32) / 255.0


def _apply_ink(paper: np.ndarray, gains: tuple[np.ndarray, ...], coverage: np.ndarray, color: np.ndarray) -> None:
    """Paint ``color`` with per-pixel ``coverage`` over the affine (paper, gains) terms, in place."""
    keep = (1.0 - coverage)[..., None]
    paper *= keep
    paper += color.astype(np.float32) * coverage[..., None]
    for gain in gains:
        gain *= keep


def _line_masks(layout: Layout, supersample: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased ring/axis/table-grid coverage, drawn large and box-filtered down."""
    size = (layout.width * supersample, layout.height * supersample)
    black, red = Image.new("L", size, 0), Image.new("L", size, 0)
    draw_black, draw_red = ImageDraw.Draw(black), ImageDraw.Draw(red)
    s = supersample
    cx, cy = layout.center[0] * s, layout.center[1] * s
    for radius_um in RING_RADII_UM:
        r = radius_um * layout.px_per_um * s
        target, width = (draw_red, round(2.0 * s)) if radius_um == TOLERANCE_RING_UM else (draw_black, s)
        target.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=width)
    reach = (PLOT_RADIUS_UM + 2.0) * layout.px_per_um * s
    draw_black.line((cx - reach, cy, cx + reach, cy), fill=255, width=round(1.5 * s))
    draw_black.line((cx, cy - reach, cx, cy + reach), fill=255, width=round(1.5 * s))
    _draw_table_grid(draw_black, layout, s)
    return _unit(black.reduce(s)), _unit(red.reduce(s))


def _draw_table_grid(draw: ImageDraw.ImageDraw, layout: Layout, s: int) -> None:
    """Outer frame, header rule and column rule of the radius table."""
    rows = len(RING_RADII_UM) + 1
    left, right, top = layout.table_left * s, layout.table_right * s, layout.table_top * s
    bottom = (layout.table_top + rows * layout.row_height) * s
    draw.rectangle((left, top, right, bottom), outline=255, width=s)
    header = (layout.table_top + layout.row_height) * s
    draw.line((left, header, right, header), fill=255, width=s)
    draw.line((layout.column_split * s, top, layout.column_split * s, bottom), fill=255, width=s)


def _draw_plot_labels(draw: ImageDraw.ImageDraw, layout: Layout, font: Font, stroke: int) -> None:
    """Axis names and DY ticks (three decimals, as on the real images), each tick just outside its ring."""
    cx, cy = layout.center
    reach = PLOT_RADIUS_UM * layout.px_per_um
    gap = max(2, layout.font_px // 4)
    style = {"font": font, "fill": 255, "stroke_width": stroke, "stroke_fill": 255}
    draw.text((cx + reach, cy - gap), "DX(um)", anchor="rb", **style)
    draw.text((cx - reach, cy - gap), "-DX", anchor="lb", **style)
    draw.text((cx + gap, cy - reach - gap), "DY(um)", anchor="lb", **style)
    draw.text((cx + gap, cy + reach + gap), "-DY", anchor="lt", **style)
    for radius_um in RING_RADII_UM:
        offset = radius_um * layout.px_per_um
        draw.text((cx - gap, cy - offset - 1), f"{radius_um:.3f}", anchor="rb", **style)
        draw.text((cx - gap, cy + offset + 2), f"{-radius_um:.3f}", anchor="rt", **style)


def _draw_table_labels(draw: ImageDraw.ImageDraw, layout: Layout, font: Font) -> None:
    """Table headers, the radius column and the names of the statistics."""
    header_y = layout.table_top + layout.row_height / 2
    draw.text((_radius_column_center(layout), header_y), "Radius", font=font, fill=255, anchor="mm")
    points_center = (layout.column_split + layout.table_right) / 2
    draw.text((points_center, header_y), "Accumulated points", font=font, fill=255, anchor="mm")
    for row, radius_um in enumerate(RING_RADII_UM, start=1):
        y = layout.table_top + (row + 0.5) * layout.row_height
        draw.text((_radius_column_center(layout), y), str(radius_um), font=font, fill=255, anchor="mm")
    for row, key in enumerate(STAT_KEYS):
        y = layout.stats_top() + (row + 0.5) * layout.row_height
        draw.text((layout.table_left, y), STAT_LABELS[key], font=font, fill=255, anchor="lm")


def _radius_column_center(layout: Layout) -> float:
    return (layout.table_left + layout.column_split) / 2


def _dot_hits(points: np.ndarray, layout: Layout) -> np.ndarray:
    """Dot hits per pixel: every point splats a 2x2 dot (numpy bincount, no per-point drawing)."""
    height, width = layout.height, layout.width
    cols, rows = layout.to_pixels(points)
    cols = np.clip(np.floor(cols - 0.5).astype(np.int64), 0, width - 2)
    rows = np.clip(np.floor(rows - 0.5).astype(np.int64), 0, height - 2)
    hits = np.bincount(rows * width + cols, minlength=height * width).reshape(height, width)
    count = hits.copy()
    count[:, 1:] += hits[:, :-1]
    count[1:, :] += hits[:-1, :]
    count[1:, 1:] += hits[:-1, :-1]
    return count.astype(np.float32)


def _composite(hits: np.ndarray, assets: RenderAssets) -> np.ndarray:
    """White paper, pink dots darkening to magenta where dense, then the ink on top.

    Opacity ``1-(1-a)^n`` makes single stray dots visible; the slower depth
    term ``1-exp(-n/n0)`` keeps the inside of a saturated cloud shaded, so its
    shape (two lobes, a stretched axis) stays visible.
    """
    coverage = 1.0 - np.power(np.float32(1.0 - _DOT_ALPHA), hits)
    depth = 1.0 - np.exp(hits / np.float32(-_DEEPEN_HITS))
    pixels = assets.pink_gain * coverage[..., None]
    pixels += assets.deep_gain * depth[..., None]
    pixels += assets.paper
    np.rint(pixels, out=pixels)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _draw_numbers(image: Image.Image, stats: PlotStats, assets: RenderAssets) -> None:
    """The per-sample numbers: right-aligned counts and statistics."""
    layout, font = assets.layout, assets.font
    draw = ImageDraw.Draw(image)
    pad = max(6, layout.font_px // 2)
    for row, count in enumerate(stats.counts, start=1):
        y = layout.table_top + (row + 0.5) * layout.row_height
        draw.text((layout.table_right - pad, y), str(count), font=font, fill=(0, 0, 0), anchor="rm")
    for row, key in enumerate(STAT_KEYS):
        y = layout.stats_top() + (row + 0.5) * layout.row_height
        draw.text((layout.table_right - pad, y), stats.stat_text(key), font=font, fill=(0, 0, 0), anchor="rm")


@dataclass(frozen=True)
class RenderedAOI:
    """A rendered image and the numbers printed on it."""

    image: Image.Image
    stats: PlotStats


def render_aoi(
    points: np.ndarray,
    *,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    assets: RenderAssets | None = None,
) -> RenderedAOI:
    """Render any set of drill offsets (µm, shape ``(n, 2)``) as an AOI image with matching numbers.

    Points beyond 50 µm are dropped first, so the printed table always
    describes exactly the dots on the plot. Useful beyond the dataset: OCR
    tests can render known numbers, and a geometric augmentation can rotate or
    flip the *points* and re-render so that the table stays consistent.
    ``assets`` (from :func:`build_assets`) saves rebuilding the static layer;
    when given, its size wins over ``width``/``height``.
    """
    if assets is None:
        assets = build_assets(width, height)
    kept = visible_points(points)
    stats = compute_stats(kept)
    image = Image.fromarray(_composite(_dot_hits(kept, assets.layout), assets))
    _draw_numbers(image, stats, assets)
    return RenderedAOI(image=image, stats=stats)


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
