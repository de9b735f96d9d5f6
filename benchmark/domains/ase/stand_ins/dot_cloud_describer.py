"""``dot-cloud-describer``: a deterministic image-measurement stand-in, not a VLM.

It fills the paper's VLM slot offline (no captioning VLM exists on our
machines) by *measuring* the pink dot cloud from the pixels
(:func:`measure`: centroid, spread, principal axes, quadrants, clusters, halo)
and writing those measurements as sentences in the spirit of the paper's
example ("The pink dot group is not distributed in the middle. It shaped like
a triangle in the top-right corner..."). It understands nothing: results that
use it must say "describer stand-in", never "VLM" (``docs/paper-model-defaults.md``, "Encoders").

Seeds choose among phrasings (the training-time text pool of TDA) and never
change the facts. Images without a dot cloud (NEU-DET steel, grayscale) get
a texture description (brightness, contrast, edge direction, dark/bright
spots) instead of an error.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

from PIL import Image
from pydantic import Field

from asebench.annotation.backends.base import BackendOptions, TextBackend, TextRequest
from asebench.annotation.errors import BackendError
from asebench.domains.ase.measure import MEASURE_VERSION, measure
from asebench.domains.ase.stand_ins.wording import (
    QUADRANT_WORDS,
    Phrasing,
    axis_phrase,
    direction_word,
    ordinal,
    percent,
)

DESCRIBER_VERSION = "1"
CENTRED = 0.04
SLIGHTLY_OFF = 0.10
ROUND = 1.2
OVAL = 1.6
HALO = 0.02
_RECENT_IMAGES = 64


class DescriberOptions(BackendOptions):
    """``rings``: how many equally spaced rings the plot has (10 on ASE plots: 5..50 µm)."""

    rings: int = Field(10, ge=1, le=100)


class DotCloudDescriber(TextBackend):
    """Deterministic image-measurement stand-in, not a VLM (see the module docstring)."""

    name: ClassVar[str] = "dot-cloud-describer"
    kind: ClassVar[str] = "deterministic image-measurement stand-in, not a VLM"
    Options: ClassVar[type[BackendOptions]] = DescriberOptions

    @property
    def model(self) -> str:
        return "dot-cloud-measurement"

    @property
    def version(self) -> str:
        return f"{DESCRIBER_VERSION}+measure{MEASURE_VERSION}"

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        self._recent: OrderedDict[str, dict[str, float]] = OrderedDict()  # a pool asks for one image several times

    def generate(self, request: TextRequest) -> str:
        if request.role != "vlm":
            raise BackendError(f"{self.name} only plays the 'vlm' role (it describes images), not {request.role!r}")
        features = request.facts.get("features") or self._measure(request)
        return describe_features(features, request.seed, rings=getattr(self.options, "rings", 10))

    def _measure(self, request: TextRequest) -> dict[str, float]:
        assert request.image_png is not None  # TextRequest guarantees it for 'vlm'
        key = request.image_sha256 or hashlib.sha256(request.image_png).hexdigest()
        if key not in self._recent:
            self._recent[key] = measure(Image.open(io.BytesIO(request.image_png)))
            while len(self._recent) > _RECENT_IMAGES:
                self._recent.popitem(last=False)
        self._recent.move_to_end(key)
        return self._recent[key]

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "is_vlm": False, "measure_version": MEASURE_VERSION}


def describe_features(features: Mapping[str, float], seed: int = 0, rings: int = 10) -> str:
    """Sentences for measured features: a dot-cloud description, or a texture description without a cloud."""
    phrasing = Phrasing(seed)
    if features.get("has_dot_cloud", 0.0) < 0.5:
        return _describe_texture(features, phrasing)
    first = _position(features, phrasing)
    rest = [_shape(features, phrasing), _spread(features, phrasing, rings), _groups(features, phrasing)]
    rest = phrasing.order(rest)
    return " ".join([first, *rest, _quadrants(features, phrasing), _halo(features, phrasing, rings)])


# --------------------------------------------------------------------------- dot cloud sentences


def _position(f: Mapping[str, float], p: Phrasing) -> str:
    offset, where = f["offset"], direction_word(f["offset_angle_deg"])
    distance = percent(offset)
    if offset < CENTRED:
        return p.pick(
            (
                "The pink dot group is distributed in the middle of the target.",
                "The pink dots are centred on the middle of the plot.",
                "The cloud of pink dots sits right at the centre of the rings.",
            )
        )
    if offset < SLIGHTLY_OFF:
        return p.pick(
            (
                f"The pink dot group is slightly off-centre toward the {where}, about {distance} of the outer ring's radius from the middle.",
                f"The pink dots sit a little toward the {where} of the centre (about {distance} of the outer radius).",
                f"The centre of the pink cloud is shifted slightly to the {where}, by about {distance} of the outer ring's radius.",
            )
        )
    return p.pick(
        (
            f"The pink dot group is not distributed in the middle; its centre lies toward the {where}, about {distance} of the outer ring's radius from the middle.",
            f"The pink dots are not centred: the group is shifted toward the {where}, by about {distance} of the outer radius.",
            f"The cloud of pink dots lies off-centre in the {where} part of the target, about {distance} of the outer ring's radius away from the middle.",
        )
    )


def _shape(f: Mapping[str, float], p: Phrasing) -> str:
    elongation = f["elongation"]
    ratio = f"{elongation:.1f}"
    if elongation < ROUND:
        return p.pick(
            (
                "It is shaped like a roughly round disc.",
                "Its outline is nearly circular.",
                "The group is about as wide as it is tall, like a circle.",
            )
        )
    toward = _elongation_direction(f)
    if elongation < OVAL:
        return p.pick(
            (
                f"It is shaped like a slightly oval blob, a little longer toward the {toward} ({ratio} times longer than wide).",
                f"Its outline is a mild oval stretched toward the {toward} (length-to-width ratio {ratio}).",
                f"The group is slightly elongated toward the {toward}, about {ratio} times as long as it is wide.",
            )
        )
    axis = axis_phrase(f["orientation_deg"])
    return p.pick(
        (
            f"It is shaped like an ellipse elongated toward the {toward}, along {axis} ({ratio} times longer than wide).",
            f"Its outline is a stretched ellipse lying along {axis}, reaching toward the {toward} (length-to-width ratio {ratio}).",
            f"The group is clearly elongated toward the {toward}: about {ratio} times as long as it is wide, along {axis}.",
        )
    )


def _elongation_direction(f: Mapping[str, float]) -> str:
    """The end of the major axis on the side the cloud is shifted to (either end when centred)."""
    angle = f["orientation_deg"]
    shift = math.radians(f["offset_angle_deg"])
    axis = math.radians(angle)
    if math.cos(axis - shift) < 0 and f["offset"] >= CENTRED:
        angle += 180.0
    return direction_word(angle)


def _spread(f: Mapping[str, float], p: Phrasing, rings: int) -> str:
    ring = max(1, min(rings, math.ceil(f["radius_p90"] * rings - 1e-9)))
    size = "compact" if f["spread"] < 0.15 else "moderately spread" if f["spread"] < 0.25 else "widely spread"
    nth = ordinal(ring)
    return p.pick(
        (
            f"The group is {size}: most dots lie within the {nth} ring.",
            f"Most of the dots stay inside the {nth} ring, so the cloud is {size}.",
            f"The cloud is {size}, with nine in ten dots inside the {nth} ring.",
        )
    )


def _groups(f: Mapping[str, float], p: Phrasing) -> str:
    count = round(f["n_clusters"])
    if count <= 1:
        return p.pick(
            (
                "The dots form a single dense group.",
                "There is one dense cluster of dots.",
                "All dense dots belong to one group.",
            )
        )
    words = {2: "two", 3: "three", 4: "four"}.get(count, str(count))
    return p.pick(
        (
            f"The dots form {words} separate dense groups.",
            f"There are {words} distinct clusters of dots.",
            f"The dense dots split into {words} groups.",
        )
    )


def _quadrants(f: Mapping[str, float], p: Phrasing) -> str:
    key = max(QUADRANT_WORDS, key=lambda k: f[k])
    share = f[key]
    if share < 0.3:
        return p.pick(
            (
                "The dots are spread evenly over the four quadrants.",
                "No quadrant holds clearly more dots than the others.",
            )
        )
    where = QUADRANT_WORDS[key]
    return p.pick(
        (
            f"The {where} quadrant holds the most dots ({percent(share)}).",
            f"Most of the dots fall in the {where} quadrant ({percent(share)}).",
        )
    )


def _halo(f: Mapping[str, float], p: Phrasing, rings: int) -> str:
    reach = ordinal(max(1, min(rings, math.ceil(f["outer_reach"] * rings - 1e-9))))
    if f["halo_share"] >= HALO:
        return p.pick(
            (
                f"A sparse halo of stray dots reaches out to about the {reach} ring.",
                f"Scattered stray dots surround the group and reach the {reach} ring.",
                f"Around the group there is a thin halo of isolated dots extending to the {reach} ring.",
            )
        )
    return p.pick(
        (
            f"Hardly any stray dots lie outside the main group; the farthest reach about the {reach} ring.",
            f"There are few isolated dots around the group (the outermost near the {reach} ring).",
            f"The edge of the group is clean, with only a few stray dots up to the {reach} ring.",
        )
    )


# --------------------------------------------------------------------------- texture sentences


def _describe_texture(f: Mapping[str, float], p: Phrasing) -> str:
    tone = "grey" if f["colourfulness"] < 0.05 else "coloured"
    brightness = f["brightness"]
    light = "dark" if brightness < 0.35 else "bright" if brightness > 0.65 else "medium-bright"
    contrast = "low" if f["contrast"] < 0.08 else "high" if f["contrast"] > 0.2 else "moderate"
    direction = _edge_direction(f["edge_orientation_deg"])
    strength = "clear" if f["edge_coherence"] > 0.3 else "weak"
    dark, bright = percent(f["dark_share"]), percent(f["bright_share"])
    sentences = [
        p.pick(
            (
                f"The image shows no pink dot cloud; it is a {light} {tone} surface texture with {contrast} contrast.",
                f"There is no scatter plot of pink dots here, only a {tone} surface texture, {light} overall, with {contrast} contrast.",
            )
        ),
        p.pick(
            (
                f"Edges run mainly {direction}, with a {strength} preferred direction.",
                f"The texture has a {strength} grain, running mostly {direction}.",
            )
        ),
        p.pick(
            (
                f"Dark spots cover about {dark} of the image and bright spots about {bright}.",
                f"About {dark} of the area is darker patches and about {bright} brighter patches.",
            )
        ),
    ]
    return " ".join(sentences)


def _edge_direction(angle: float) -> str:
    sector = round((angle % 180.0) / 45.0) % 4
    return (
        "horizontally",
        "diagonally (bottom-left to top-right)",
        "vertically",
        "diagonally (top-left to bottom-right)",
    )[sector]
