"""Counts and timings of the annotation stage, for the provenance of the method that ran it.

One :class:`AnnotationStats` is created by the caller and passed to both
pipeline phases; it records, per component (``ocr:<engine>``, ``measure``,
``vlm:<backend>``, ``llm:<backend>``), how many calls ran, how many were
answered by the cache, the wall seconds spent in calls, and on how many images
the component actually ran, so that "seconds per image per backend" and cache
hit counts can be reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ComponentUsage:
    """Calls made, cache hits, wall seconds in calls, and images the component ran on."""

    calls: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    images: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "seconds": round(self.seconds, 3),
            "images": self.images,
            "seconds_per_image": round(self.seconds / self.images, 4) if self.images else None,
            "seconds_per_call": round(self.seconds / self.calls, 4) if self.calls else None,
        }


class AnnotationStats:
    """Per-component usage, accumulated over one or more pipeline calls (see the module docstring)."""

    def __init__(self) -> None:
        self._usage: dict[str, ComponentUsage] = {}

    def record(self, component: str, *, calls: int = 0, hits: int = 0, seconds: float = 0.0, images: int = 0) -> None:
        usage = self._usage.setdefault(component, ComponentUsage())
        usage.calls += calls
        usage.cache_hits += hits
        usage.seconds += seconds
        usage.images += images

    def usage(self, component: str) -> ComponentUsage:
        """Usage of one component (zeros when it never ran)."""
        return self._usage.get(component, ComponentUsage())

    def components(self) -> list[str]:
        return sorted(self._usage)

    def total_calls(self, prefix: str = "") -> int:
        """Calls of every component whose name starts with ``prefix`` (``"vlm:"``, ``"llm:"``, ``""`` = all)."""
        return sum(u.calls for name, u in self._usage.items() if name.startswith(prefix))

    def total_hits(self, prefix: str = "") -> int:
        return sum(u.cache_hits for name, u in self._usage.items() if name.startswith(prefix))

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-ready ``{component: {calls, cache_hits, seconds, images, seconds_per_image, seconds_per_call}}``."""
        return {name: self._usage[name].as_dict() for name in sorted(self._usage)}
