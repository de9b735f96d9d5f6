"""The two visual domains of ``anomaly-synth``: palettes, texture scale, lighting and sensor noise.

Both domains draw the same scenes from the same random streams (same seed:
same layouts, same defects); only the look differs, and on purpose by a lot:

* ``a``: a bright, cool inspection station. Light grey-blue materials, fine
  textures, soft even light from the upper left, low noise.
* ``b``: a dark, warm one. Brown, copper and amber materials, textures about
  1.8x coarser, a spotlight from the lower right with a strong vignette, and
  twice the sensor noise. The ``grid`` mesh flips polarity (bright wires on a
  dark backing), and the objects stand on a dark table instead of a light one.

Training on one domain and scoring on the other is therefore a real transfer
(colour statistics, scale and lighting all move), while categories and
defect kinds stay the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RGB = tuple[float, float, float]

DOMAINS = ("a", "b")


@dataclass(frozen=True)
class DomainStyle:
    """Everything that makes one domain look different; colours are linear RGB in [0, 1]."""

    name: str
    # per texture category: (low, high) colour that the texture's [0, 1] pattern interpolates
    textures: dict[str, tuple[RGB, RGB]]
    # per object category: (body, accent) colour; the accent is the pill's second half
    objects: dict[str, tuple[RGB, RGB]]
    background: RGB  # the table the objects lie on
    scale: float  # texture period multiplier (larger = coarser)
    light_angle: float  # direction the light comes from, radians (0 = from the right, pi/2 = from below)
    light_gradient: float  # brightness change across the image from that side
    vignette: float  # darkening at the corners (0 = none)
    gain: float  # overall exposure
    noise: float  # sensor noise standard deviation (fraction of full scale)
    stain: RGB  # the colour a stain multiplies the surface with


STYLES: dict[str, DomainStyle] = {
    "a": DomainStyle(
        name="a",
        textures={
            "weave": ((0.50, 0.58, 0.70), (0.86, 0.91, 0.98)),
            "grain": ((0.60, 0.66, 0.74), (0.88, 0.91, 0.95)),
            "grid": ((0.30, 0.35, 0.44), (0.90, 0.93, 0.97)),
        },
        objects={
            "washer": ((0.64, 0.69, 0.78), (0.64, 0.69, 0.78)),
            "bracket": ((0.50, 0.58, 0.72), (0.50, 0.58, 0.72)),
            "pill": ((0.95, 0.96, 0.99), (0.52, 0.68, 0.94)),
        },
        background=(0.86, 0.89, 0.94),
        scale=1.0,
        light_angle=math.radians(225.0),
        light_gradient=0.12,
        vignette=0.06,
        gain=1.0,
        noise=0.012,
        stain=(0.62, 0.52, 0.36),
    ),
    "b": DomainStyle(
        name="b",
        textures={
            "weave": ((0.16, 0.09, 0.04), (0.56, 0.36, 0.18)),
            "grain": ((0.22, 0.11, 0.05), (0.60, 0.36, 0.16)),
            "grid": ((0.78, 0.55, 0.26), (0.10, 0.07, 0.05)),
        },
        objects={
            "washer": ((0.74, 0.44, 0.24), (0.74, 0.44, 0.24)),
            "bracket": ((0.62, 0.47, 0.22), (0.62, 0.47, 0.22)),
            "pill": ((0.88, 0.62, 0.30), (0.58, 0.20, 0.12)),
        },
        background=(0.14, 0.10, 0.08),
        scale=1.8,
        light_angle=math.radians(30.0),
        light_gradient=0.35,
        vignette=0.35,
        gain=1.05,
        noise=0.025,
        stain=(0.45, 0.55, 0.50),
    ),
}


def style_of(domain: str) -> DomainStyle:
    """The style of ``domain``; an unknown name is a ValueError naming the known ones."""
    try:
        return STYLES[domain]
    except KeyError:
        raise ValueError(f"unknown domain {domain!r} (known: {', '.join(DOMAINS)})") from None
