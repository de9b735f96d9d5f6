"""Normal images of ``anomaly-synth``: three textures and three objects, each with natural variation.

A :class:`Scene` keeps the layers an image is made of, so that a defect can
change one layer inside its mask and the image be finished again by the very
same per-pixel steps (:func:`finish`): surface colour, object coverage
(``alpha``, objects only), lighting and sensor noise. Every step after the
surface colour works pixel by pixel, which is what lets a defect leave every
pixel outside its mask untouched.

Variation per image: texture phase and a small rotation; object position,
rotation and size jitter; exposure, the lighting gradient's direction and
sensor noise. Nothing here touches the file system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from asebench.datasets.anomaly_synth.styles import RGB, DomainStyle

TEXTURES = ("weave", "grain", "grid")
OBJECTS = ("washer", "bracket", "pill")
CATEGORIES = TEXTURES + OBJECTS


@dataclass(frozen=True)
class Scene:
    """The layers of one image; ``alpha``/``background``/``body`` are None for textures."""

    category: str
    surface: np.ndarray  # HxWx3 float: the colour of what is seen, before light and noise
    light: np.ndarray  # HxW float: exposure times gradient times vignette
    noise: np.ndarray  # HxWx3 float: additive sensor noise
    alpha: np.ndarray | None = None  # HxW float in [0, 1]: how much of each pixel the object covers
    background: np.ndarray | None = None  # HxWx3: the table
    body: np.ndarray | None = None  # HxWx3: the object's shaded material, defined on every pixel

    @property
    def size(self) -> int:
        return int(self.surface.shape[0])

    def with_alpha(self, alpha: np.ndarray) -> Scene:
        """The same object with other coverage (a part cut away or added), surface composited again."""
        if self.background is None or self.body is None:
            raise ValueError(f"{self.category} is a texture: it has no object coverage to change")
        return replace(self, alpha=alpha, surface=composite(self.background, self.body, alpha))


def render_scene(category: str, size: int, style: DomainStyle, rng: np.random.Generator) -> Scene:
    """A normal image's layers; deterministic in ``rng``'s state."""
    if category in TEXTURES:
        low, high = style.textures[category]
        pattern = _TEXTURE_PATTERNS[category](size, style.scale, rng)
        surface = _lerp(low, high, pattern)
        scene = Scene(category, surface, np.ones((size, size)), np.zeros((size, size, 3)))
    elif category in OBJECTS:
        scene = _object_scene(category, size, style, rng)
    else:
        raise ValueError(f"unknown category {category!r} (known: {', '.join(CATEGORIES)})")
    light = _lighting(size, style, rng)
    noise = rng.normal(0.0, style.noise, (size, size, 3))
    return replace(scene, light=light, noise=noise)


def finish(surface: np.ndarray, light: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Light and sensor noise applied pixel by pixel, quantised to uint8 RGB."""
    value = surface * light[..., None] + noise
    return np.asarray(np.clip(np.rint(value * 255.0), 0, 255), dtype=np.uint8)


def render(scene: Scene) -> np.ndarray:
    """The scene's uint8 RGB image."""
    return finish(scene.surface, scene.light, scene.noise)


def composite(background: np.ndarray, body: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The object over the table."""
    return np.asarray(background * (1.0 - alpha[..., None]) + body * alpha[..., None])


def coordinates(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y) relative to the image centre, in pixels."""
    axis = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    y, x = np.meshgrid(axis, axis, indexing="ij")
    return x, y


def rotated(x: np.ndarray, y: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in a frame turned by ``angle`` radians."""
    c, s = math.cos(angle), math.sin(angle)
    return c * x + s * y, -s * x + c * y


def smooth_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random field, roughly N(0, 1), varying over about ``size / cells`` pixels."""
    coarse = rng.normal(0.0, 1.0, (cells + 3, cells + 3)).astype(np.float32)
    big = Image.fromarray(coarse, mode="F").resize((size + 3 * size // cells,) * 2, Image.Resampling.BICUBIC)
    offset = size // cells
    return np.asarray(big, dtype=np.float64)[offset : offset + size, offset : offset + size]


def _lerp(low: RGB, high: RGB, t: np.ndarray) -> np.ndarray:
    lo, hi = np.asarray(low), np.asarray(high)
    return np.asarray(lo + (hi - lo) * np.clip(t, 0.0, 1.0)[..., None])


def _lighting(size: int, style: DomainStyle, rng: np.random.Generator) -> np.ndarray:
    """Exposure jitter times a linear gradient from the light's side times a vignette."""
    x, y = coordinates(size)
    angle = style.light_angle + rng.normal(0.0, 0.25)
    toward = (x * math.cos(angle) + y * math.sin(angle)) / size  # -0.7..0.7, positive towards the light
    radius2 = (x * x + y * y) / (size * size / 2.0)  # 0 at the centre, 1 in the corners
    gain = style.gain * rng.uniform(0.92, 1.08)
    strength = style.light_gradient * rng.uniform(0.7, 1.3)
    return np.asarray(gain * (1.0 + strength * toward) * (1.0 - style.vignette * radius2))


def _frame(size: int, period: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Texture coordinates with a random phase and a small rotation, in units of the period."""
    x, y = coordinates(size)
    u, v = rotated(x, y, rng.normal(0.0, math.radians(4.0)))
    return u / period + rng.uniform(0.0, 1.0), v / period + rng.uniform(0.0, 1.0)


def _weave(size: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Plain weave: threads alternately over and under, each with a rounded profile and fibre noise."""
    u, v = _frame(size, size / 12.0 * scale, rng)
    over = (np.floor(u) + np.floor(v)) % 2 == 0
    fu, fv = u % 1.0, v % 1.0
    across = np.where(over, np.sin(np.pi * fv), np.sin(np.pi * fu)) ** 0.7
    along = np.where(over, np.sin(np.pi * fu), np.sin(np.pi * fv))
    fibre = smooth_noise(size, max(4, int(size / (3.0 * scale))), rng)
    return np.asarray(0.15 + 0.65 * across * (0.75 + 0.25 * along) + 0.06 * fibre)


def _grain(size: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Wood-like grain: wavy growth rings plus fine streaks along them."""
    _, v = _frame(size, size / 7.0 * scale, rng)
    warp = smooth_noise(size, 3, rng)
    rings = 0.5 + 0.5 * np.sin(2.0 * np.pi * (v + 0.6 * warp))
    streaks = smooth_noise(size, max(6, int(size / (2.5 * scale))), rng)
    return np.asarray(0.25 + 0.5 * rings**1.5 + 0.08 * streaks + 0.05 * np.sin(2.0 * np.pi * 5.0 * (v + 0.6 * warp)))


def _grid(size: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Woven wire mesh: round wires on a plain backing; 0 = wire, 1 = backing."""
    u, v = _frame(size, size / 8.0 * scale, rng)
    half_width = 0.16
    du = np.minimum(u % 1.0, 1.0 - u % 1.0)
    dv = np.minimum(v % 1.0, 1.0 - v % 1.0)
    wire_u = np.clip((half_width - du) * size / (8.0 * scale) + 0.5, 0.0, 1.0)
    wire_v = np.clip((half_width - dv) * size / (8.0 * scale) + 0.5, 0.0, 1.0)
    wire = np.maximum(wire_u, wire_v)
    highlight = np.maximum(np.clip(1.0 - du / half_width, 0, 1), np.clip(1.0 - dv / half_width, 0, 1)) ** 2
    backing = 0.9 + 0.05 * smooth_noise(size, 6, rng)
    return np.asarray(backing * (1.0 - wire) + wire * 0.35 * highlight)


_TEXTURE_PATTERNS = {"weave": _weave, "grain": _grain, "grid": _grid}


def _box(u: np.ndarray, v: np.ndarray, cu: float, cv: float, half_u: float, half_v: float) -> np.ndarray:
    """Signed distance to an axis-aligned box (negative inside)."""
    qu, qv = np.abs(u - cu) - half_u, np.abs(v - cv) - half_v
    outside = np.hypot(np.maximum(qu, 0.0), np.maximum(qv, 0.0))
    return np.asarray(outside + np.minimum(np.maximum(qu, qv), 0.0))


def _object_scene(category: str, size: int, style: DomainStyle, rng: np.random.Generator) -> Scene:
    """An object at a jittered pose on a faintly textured table; alpha anti-aliased over one pixel."""
    x, y = coordinates(size)
    cx, cy = rng.normal(0.0, 0.04 * size, 2)
    scale = size * rng.uniform(0.94, 1.06)
    if category == "washer":  # round: any turn, the notch shows it
        angle = rng.uniform(-math.pi, math.pi)
    else:
        angle = rng.normal(0.0, 0.2 if category == "bracket" else 0.35)
    u, v = rotated(x - cx, y - cy, angle)
    u, v = u / scale, v / scale  # object frame in units of the image size
    body_rgb, accent_rgb = (np.asarray(c) for c in style.objects[category])
    light_dir = (math.cos(style.light_angle), math.sin(style.light_angle))
    if category == "washer":
        r = np.hypot(u, v)
        sdf = np.maximum(r - 0.34, 0.13 - r)
        notch = _box(u, v, 0.34, 0.0, 0.05, 0.035)
        sdf = np.maximum(sdf, -notch)
        ring = 0.5 + 0.5 * np.cos(np.arctan2(v, u) - angle)  # facing the light
        shade = 0.78 + 0.18 * ring + 0.04 * np.sin(2.0 * np.pi * r * size / 3.0)
        body = body_rgb * shade[..., None]
    elif category == "bracket":
        arm = _box(u, v, 0.0, 0.14, 0.3, 0.08)
        leg = _box(u, v, -0.22, -0.06, 0.08, 0.26)
        holes = np.minimum(np.hypot(u - 0.17, v - 0.14), np.hypot(u + 0.22, v + 0.2)) - 0.035
        sdf = np.maximum(np.minimum(arm, leg), -holes)
        brushed = smooth_noise(size, max(8, size // 6), rng)
        shade = 0.85 + 0.1 * (u * light_dir[0] + v * light_dir[1]) + 0.03 * brushed
        body = body_rgb * shade[..., None]
    else:
        half = 0.22
        along = np.clip(u, -half, half)
        sdf = np.hypot(u - along, v) - 0.12
        rounded = np.sqrt(np.clip(1.0 - (np.hypot(u - along, v) / 0.12) ** 2, 0.0, 1.0))
        shade = 0.72 + 0.3 * rounded
        halves = np.where((u < 0)[..., None], accent_rgb, body_rgb)
        body = halves * shade[..., None]
    alpha = np.clip(0.5 - sdf * scale, 0.0, 1.0)
    table = np.asarray(style.background) * (1.0 + 0.03 * smooth_noise(size, 5, rng))[..., None]
    surface = composite(table, body, alpha)
    return Scene(category, surface, np.ones((size, size)), np.zeros((size, size, 3)), alpha, table, body)
