"""What the annotation stage needs from an inspection domain, handed to it explicitly.

The stage (:mod:`.pipeline`, :mod:`.ocr`, :mod:`.cache`) knows images, text
boxes, texts and caches, and nothing about what a domain's images print. A
domain supplies one :class:`AnnotationDomain`:

* its :class:`ReadingFormat`: how OCR text boxes, or numbers a dataset ships
  with a sample, become the domain's *reading*, and how a cached reading is
  restored;
* ``measure``: pixel measurements of one image, cached under ``measure_version``;
* ``sentences``: a reading written as sentences for the LLM, next to the
  class statistics fitted on the training split;
* the default VLM and LLM prompts.

The dependency points one way: a domain package (``asebench.domains.ase``)
imports this package and builds its ``AnnotationDomain``; nothing in
``asebench.annotation`` imports a domain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from asebench.annotation.image_input import ImageLike
from asebench.annotation.text_box import TextBox


class Reading(Protocol):
    """What OCR read from one image, in the domain's own shape; the stage only stores and forwards it."""

    @property
    def engine(self) -> str: ...

    @property
    def engine_version(self) -> str: ...

    def as_flat(self) -> Mapping[str, float | int | None]:
        """The numbers under flat keys (``None`` where unread): the facts an LLM request carries."""
        ...

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form: what the annotation cache stores."""
        ...


class ClassSummary(Protocol):
    """Per-class statistics fitted on the training split (the leakage rule); the stage only forwards them."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ReadingFormat:
    """How a domain reads OCR output; ``version`` is part of every OCR engine's version (and cache key)."""

    version: str
    from_boxes: Callable[[Sequence[TextBox], str, str, float | None], Reading]
    """``(boxes, engine, engine_version, image_width)``: parse detected text into a reading."""
    from_values: Callable[[Mapping[str, Any], str, str], Reading]
    """``(values, engine, engine_version)``: a reading from numbers a dataset ships (``ocr: metadata``)."""
    from_json: Callable[[Mapping[str, Any]], Reading]
    """Restore a cached :meth:`Reading.to_json`; raises KeyError, TypeError or ValueError when malformed."""
    empty: Callable[[str, str], Reading]
    """``(engine, engine_version)``: nothing read (an image without the table, or OCR switched off)."""


@dataclass(frozen=True)
class AnnotationDomain:
    """Everything domain-specific the stage calls (see the module docstring)."""

    reading: ReadingFormat
    measure: Callable[[ImageLike], dict[str, float]]
    measure_version: str
    """Bump on any change to the measured numbers: it is the feature cache key."""
    sentences: Callable[[Any, Any], str]
    """``(reading, class statistics or None)``: the reading as sentences for the LLM's input text.

    Both arguments are the domain's own types (its reading, its :class:`ClassSummary`).
    """
    vlm_prompt: str
    llm_prompt: str
