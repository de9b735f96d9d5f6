"""``numeric-reasoner``: a deterministic nearest-class-mean stand-in, not an LLM.

It fills the paper's LLM slot offline (no generative LLM exists on our
machines). It does not read the request text; it reads the
structured ``facts`` the pipeline attaches to every LLM request:

* ``ocr``: the image's OCR numbers (flat keys, ``None`` where unread);
* ``features``: the describer's pixel measurements of the image;
* ``class_statistics``: per-class means of both, **from the training split
  only** (``ClassStatistics.to_json()``).

Each number present for the image and for every class is standardised by its
pooled within-class standard deviation on the training split (falling back to
the spread of the class means when no class has two values); the class with the
smallest root-mean-square standardised distance wins (classes without any
training average are left out). With no OCR numbers it
decides from the measured features alone; with neither it says it cannot
decide. The text imitates the paper's LLM example ("... these narratives most
likely describe the class 2") and names the numbers that support the choice.
Results that use it must say "reasoner stand-in", never "LLM". Seeds vary the
phrasing, never the decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from asebench.annotation.backends.base import BackendOptions, TextBackend, TextRequest
from asebench.annotation.errors import BackendError
from asebench.domains.ase.layout import RING_RADII_UM, STAT_LABELS
from asebench.domains.ase.ocr_reading import COUNT_KEYS
from asebench.domains.ase.stand_ins.wording import Phrasing
from asebench.domains.ase.templates import bin_phrase, format_number

REASONER_VERSION = "2"
# angles wrap around (359 deg is next to 1 deg) and flags carry no magnitude: never compared as numbers
_NOT_COMPARABLE = frozenset(
    {"has_dot_cloud", "axes_found", "offset_angle_deg", "orientation_deg", "edge_orientation_deg"}
)
_FEATURE_WORDS: Mapping[str, str] = {
    "offset": "distance of the cloud from the centre",
    "offset_x": "horizontal position of the cloud",
    "offset_y": "vertical position of the cloud",
    "std_x": "horizontal spread",
    "std_y": "vertical spread",
    "spread": "overall spread",
    "major_sd": "length of the cloud",
    "minor_sd": "width of the cloud",
    "elongation": "elongation",
    "q_top_right": "share of dots in the top-right quadrant",
    "q_top_left": "share of dots in the top-left quadrant",
    "q_bottom_left": "share of dots in the bottom-left quadrant",
    "q_bottom_right": "share of dots in the bottom-right quadrant",
    "radius_p50": "median distance of the dots from the centre",
    "radius_p90": "radius holding nine in ten dots",
    "n_clusters": "number of dense groups",
    "halo_share": "share of stray dots",
    "outer_reach": "reach of the outermost dots",
    "cloud_area": "area covered by dots",
    "brightness": "brightness",
    "contrast": "contrast",
    "edge_strength": "edge strength",
    "edge_coherence": "regularity of the edge direction",
    "dark_share": "share of dark spots",
    "bright_share": "share of bright spots",
    "colourfulness": "colourfulness",
}


@dataclass(frozen=True)
class Evidence:
    """One number compared with every class mean; ``z[c]`` is its standardised distance to class ``c``."""

    key: str
    source: str  # "ocr" or "feature"
    value: float
    means: Mapping[str, float]
    z: Mapping[str, float]

    def nearest(self) -> str:
        return min(self.z, key=lambda c: abs(self.z[c]))

    def margin(self, chosen: str) -> float:
        """How much closer ``chosen`` is than the runner-up for this number (negative when it is not nearest)."""
        others = [abs(v) for c, v in self.z.items() if c != chosen]
        return (min(others) if others else 0.0) - abs(self.z[chosen])


@dataclass(frozen=True)
class Decision:
    """The nearest class (None when nothing could be compared), the runner-up, distances and evidence."""

    chosen: str | None
    runner_up: str | None
    distances: Mapping[str, float]
    evidence: tuple[Evidence, ...]


def decide(facts: Mapping[str, Any]) -> Decision:
    """Nearest class mean over every comparable number (module docstring)."""
    statistics = facts.get("class_statistics") or {}
    classes = _represented_classes(statistics)
    evidence = [
        *_evidence(
            "ocr",
            facts.get("ocr") or {},
            statistics.get("ocr_means") or {},
            statistics.get("ocr_spread") or {},
            classes,
        ),
        *_evidence(
            "feature",
            facts.get("features") or {},
            statistics.get("feature_means") or {},
            statistics.get("feature_spread") or {},
            classes,
        ),
    ]
    if not evidence or not classes:
        return Decision(None, None, {}, ())
    distances = {c: math.sqrt(sum(e.z[c] ** 2 for e in evidence) / len(evidence)) for c in classes}
    ranked = sorted(classes, key=lambda c: (distances[c], classes.index(c)))
    return Decision(ranked[0], ranked[1] if len(ranked) > 1 else None, distances, tuple(evidence))


def _represented_classes(statistics: Mapping[str, Any]) -> list[str]:
    """Classes with at least one averaged number: a class absent from the training split cannot be chosen."""
    ocr_means, feature_means = statistics.get("ocr_means") or {}, statistics.get("feature_means") or {}
    return [
        c
        for c in statistics.get("class_names", [])
        if any(v is not None for v in (ocr_means.get(c) or {}).values())
        or any(v is not None for v in (feature_means.get(c) or {}).values())
    ]


def _evidence(
    source: str,
    values: Mapping[str, Any],
    means: Mapping[str, Mapping[str, Any]],
    spreads: Mapping[str, Any],
    classes: Sequence[str],
) -> list[Evidence]:
    found: list[Evidence] = []
    if len(classes) < 2:  # nothing to choose between: no spread of class means to standardise by
        return found
    for key in sorted(values):
        value = values[key]
        if key in _NOT_COMPARABLE or value is None or not math.isfinite(float(value)):
            continue
        known = {c: means.get(c, {}).get(key) for c in classes}
        class_means: dict[str, float] = {c: m for c, m in known.items() if m is not None}
        if len(class_means) < len(known):  # a class without this number: no comparison
            continue
        scale = spreads.get(key)
        if scale is None or scale < 1e-9:
            centre = sum(class_means.values()) / len(classes)
            scale = math.sqrt(sum((m - centre) ** 2 for m in class_means.values()) / len(classes))
        if scale < 1e-9:
            continue
        z = {c: (float(value) - m) / scale for c, m in class_means.items()}
        found.append(Evidence(key, source, float(value), class_means, z))
    return found


class ReasonerOptions(BackendOptions):
    """``max_evidence``: how many supporting numbers the text names."""

    max_evidence: int = Field(3, ge=0, le=20)


class NumericReasoner(TextBackend):
    """Deterministic nearest-class-mean stand-in, not an LLM (see the module docstring)."""

    name: ClassVar[str] = "numeric-reasoner"
    kind: ClassVar[str] = "deterministic nearest-class-mean stand-in, not an LLM"
    Options: ClassVar[type[BackendOptions]] = ReasonerOptions

    @property
    def model(self) -> str:
        return "nearest-class-mean"

    @property
    def version(self) -> str:
        return REASONER_VERSION

    def generate(self, request: TextRequest) -> str:
        if request.role != "llm":
            raise BackendError(f"{self.name} only plays the 'llm' role (it decides from numbers), not {request.role!r}")
        return write_decision(decide(request.facts), request.seed, getattr(self.options, "max_evidence", 3))

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "is_llm": False}


def write_decision(decision: Decision, seed: int = 0, max_evidence: int = 3) -> str:
    """The decision as LLM-style sentences; seeds change the wording only."""
    p = Phrasing(seed)
    if decision.chosen is None:
        return p.pick(
            (
                "The shape description and the numeric information are not enough to decide which category these features align with.",
                "There is not enough numeric or shape information to tell which category these features belong to.",
            )
        )
    chosen = decision.chosen
    sentences = [
        p.pick(
            (
                f"According to the description you have given and the shape/distribution information, these narratives most likely describe the class {chosen}.",
                f"Considering the shape and distribution of the dots together with the numbers, these features align most closely with the class {chosen}.",
                f"Taking the description and the numeric information together, the closest category is {chosen}.",
            )
        )
    ]
    support = sorted((e for e in decision.evidence if e.nearest() == chosen), key=lambda e: -e.margin(chosen))
    ocr = [e for e in support if e.source == "ocr"][:max_evidence]
    feature_count = max(1, max_evidence - len(ocr)) if max_evidence else 0  # one shape fact even beside numbers
    features = [e for e in support if e.source == "feature"][:feature_count]
    sentences += [_feature_sentence(e, chosen, p) for e in features]
    sentences += [_ocr_sentence(e, chosen, p) for e in ocr]
    if decision.runner_up is not None:
        ratio = decision.distances[chosen] / max(decision.distances[decision.runner_up], 1e-9)
        closeness = "clearly" if ratio < 0.7 else "only narrowly"
        sentences.append(
            p.pick(
                (
                    f"It is {closeness} closer to {chosen} than to the next candidate, {decision.runner_up}.",
                    f"The second closest class is {decision.runner_up}; {chosen} is {closeness} ahead.",
                )
            )
        )
    return " ".join(sentences)


def _ocr_sentence(e: Evidence, chosen: str, p: Phrasing) -> str:
    mean = e.means[chosen]
    if e.key in COUNT_KEYS:
        what = f"The accumulated points between {bin_phrase(RING_RADII_UM[COUNT_KEYS.index(e.key)])}"
        value, average = format_number(e.value, 0), format_number(mean, 1)
        return p.pick(
            (
                f"{what} ({value}) are closest to {chosen}'s average ({average}).",
                f"{what} number {value}, nearest to the {chosen} average of {average}.",
            )
        )
    label = STAT_LABELS.get(e.key, e.key)
    value, average = format_number(e.value, 3), format_number(mean, 3)
    return p.pick(
        (
            f"The {label} ({value}) is closest to {chosen}'s average ({average}).",
            f"The {label} of {value} is nearest to the {chosen} average of {average}.",
        )
    )


def _feature_sentence(e: Evidence, chosen: str, p: Phrasing) -> str:
    what = _FEATURE_WORDS.get(e.key, e.key.replace("_", " "))
    value, average = format_number(e.value, 2), format_number(e.means[chosen], 2)
    return p.pick(
        (
            f"In the described dot cloud, the {what} ({value}) matches {chosen}'s typical value ({average}) best.",
            f"The {what} of the dot cloud ({value}) is closest to what {chosen} shows on average ({average}).",
        )
    )
