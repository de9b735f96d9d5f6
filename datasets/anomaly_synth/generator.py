"""Which images ``anomaly-synth`` holds, each image's own random streams, and one image from draw to PNG.

Layout and split semantics are MVTec AD's: per category ``train/good``
(normal only), ``test/good`` and ``test/<kind>`` with a mask per defect image
in ``ground_truth/<kind>/<name>_mask.png``.

**Every image owns its random streams**, keyed by
``[seed, category, part, kind, number]`` (indices into the fixed
:data:`~.scenes.CATEGORIES` / :data:`~.defects.ALL_KINDS` tuples, never into
the chosen subset): stream ``[..., 0]`` draws the normal scene, stream
``[..., 1]`` the defect on top of it. An image therefore does not depend on
which other categories or how many other images were asked for, and the
domain is not part of the key: both domains show the same scenes and the
same defects in their own look. A defect image is its scene's normal image
(:func:`normal_of`) changed exactly on its mask.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from asebench.datasets.anomaly_synth.defects import ALL_KINDS, apply_defect, kinds_of
from asebench.datasets.anomaly_synth.scenes import CATEGORIES, render, render_scene
from asebench.datasets.anomaly_synth.styles import style_of

GENERATOR_VERSION = "1"
"""Bump on any change that alters generated pixels (it names the cache directory)."""

NORMAL = "good"
PARTS = ("train", "test")


@dataclass(frozen=True)
class ImageSpec:
    """One image of the dataset: where it goes in the MVTec layout and what it shows."""

    category: str
    part: str  # "train" or "test": MVTec's official split
    kind: str  # "good" or a defect kind
    number: int  # 0-based within its folder

    @property
    def name(self) -> str:
        return f"{self.number:03d}"

    @property
    def image_path(self) -> str:
        return f"{self.category}/{self.part}/{self.kind}/{self.name}.png"

    @property
    def mask_path(self) -> str | None:
        return None if self.kind == NORMAL else f"{self.category}/ground_truth/{self.kind}/{self.name}_mask.png"


@dataclass(frozen=True)
class Rendered:
    """An image (uint8 RGB) and, for a defect, its mask (bool) and the normal image under it."""

    image: np.ndarray
    mask: np.ndarray | None = None
    normal: np.ndarray | None = None


def plan(categories: list[str], train: int, test_good: int, per_kind: int) -> list[ImageSpec]:
    """Every image, category by category: train/good, test/good, then each defect kind."""
    specs: list[ImageSpec] = []
    for category in categories:
        specs += [ImageSpec(category, "train", NORMAL, i) for i in range(train)]
        specs += [ImageSpec(category, "test", NORMAL, i) for i in range(test_good)]
        for kind in kinds_of(category):
            specs += [ImageSpec(category, "test", kind, i) for i in range(per_kind)]
    return specs


def stream_key(seed: int, spec: ImageSpec) -> list[int]:
    """The image's random-stream key; independent of the other images and of the domain."""
    kind_index = 0 if spec.kind == NORMAL else 1 + ALL_KINDS.index(spec.kind)
    return [seed, CATEGORIES.index(spec.category), PARTS.index(spec.part), kind_index, spec.number]


def normal_of(spec: ImageSpec, *, seed: int, domain: str, size: int) -> np.ndarray:
    """The normal image ``spec`` shows (for a defect image: the image before the defect)."""
    rng = np.random.default_rng([*stream_key(seed, spec), 0])
    return render(render_scene(spec.category, size, style_of(domain), rng))


def generate(spec: ImageSpec, *, seed: int, domain: str, size: int) -> Rendered:
    """The image of ``spec``: deterministic in all arguments."""
    style = style_of(domain)
    scene = render_scene(spec.category, size, style, np.random.default_rng([*stream_key(seed, spec), 0]))
    normal = render(scene)
    if spec.kind == NORMAL:
        return Rendered(normal)
    defect_rng = np.random.default_rng([*stream_key(seed, spec), 1])
    image, mask = apply_defect(scene, normal, spec.kind, style, defect_rng)
    return Rendered(image, mask, normal)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes with fixed settings and no metadata chunks, so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=3, optimize=False)
    return buffer.getvalue()


def encode_mask(mask: np.ndarray) -> bytes:
    """A mask as MVTec stores it: 8-bit grey, 255 on the defect, 0 elsewhere."""
    return encode_png(np.where(mask, 255, 0).astype(np.uint8))
