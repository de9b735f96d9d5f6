"""Drawing one AOI image: the polar DX/DY target plot with its dots, and the table beside it.

The look imitates the paper's images (the ASE paper, arXiv 2404.05183): a DX/DY
target plot in µm with rings every 5 µm (the 35 µm ring in dark red) and one
pink dot per drilled hole, next to a table of per-annulus point counts and
the X/Y mean and standard deviation. Everything identical across images of
one size is drawn once (:func:`build_assets`); a render adds the dots and the
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from asebench.datasets.ase_synth.clouds import PLOT_RADIUS_UM, visible_points
from asebench.datasets.ase_synth.table import PlotStats, compute_stats
from asebench.domains.ase.layout import RING_RADII_UM, STAT_KEYS, STAT_LABELS

TOLERANCE_RING_UM = 35

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

    def label(xy: tuple[float, float], text: str, anchor: str) -> None:
        draw.text(xy, text, anchor=anchor, font=font, fill=255, stroke_width=stroke, stroke_fill=255)

    label((cx + reach, cy - gap), "DX(um)", "rb")
    label((cx - reach, cy - gap), "-DX", "lb")
    label((cx + gap, cy - reach - gap), "DY(um)", "lb")
    label((cx + gap, cy + reach + gap), "-DY", "lt")
    for radius_um in RING_RADII_UM:
        offset = radius_um * layout.px_per_um
        label((cx - gap, cy - offset - 1), f"{radius_um:.3f}", "rb")
        label((cx - gap, cy + offset + 2), f"{-radius_um:.3f}", "rt")


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
