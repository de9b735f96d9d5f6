"""The annotation stage bound to the ASE plot: what the paper's model and ``ocr-numbers-only`` call.

:data:`ASE_ANNOTATION` hands the generic stage (:mod:`asebench.annotation`)
everything it needs to know about an ASE AOI image: the OCR reading of the
radius table and statistics (:mod:`.ocr_reading`, parsed by
:mod:`.ocr_parser`), the dot-cloud measurements (:mod:`.measure`), the
template sentences with class averages (:mod:`.templates`) and the paper's
prompts (:mod:`.prompts`). The functions below are the stage's, with that
domain filled in. Importing this module also registers the two offline
stand-in backends (:mod:`.stand_ins`) into the generic backend registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, cast

from asebench.annotation import ocr, pipeline
from asebench.annotation.backends import ProgressCallback
from asebench.annotation.cache import AnnotationCache
from asebench.annotation.domain import AnnotationDomain, ReadingFormat
from asebench.annotation.ocr import DEFAULT_OCR_ENGINE, OcrEngine
from asebench.annotation.stats import AnnotationStats
from asebench.api.data import Sample
from asebench.domains.ase import stand_ins  # noqa: F401  registers the stand-in backends
from asebench.domains.ase.measure import MEASURE_VERSION, measure
from asebench.domains.ase.ocr_parser import LAYOUT_VERSION, reading_from_boxes
from asebench.domains.ase.ocr_reading import OcrReading
from asebench.domains.ase.prompts import LLM_PROMPT, VLM_PROMPT
from asebench.domains.ase.templates import ocr_sentences

ASE_READING = ReadingFormat(
    version=LAYOUT_VERSION,
    from_boxes=reading_from_boxes,
    from_values=OcrReading.from_flat,
    from_json=OcrReading.from_json,
    empty=OcrReading.empty,
)
"""The radius table and the four statistics, read into an :class:`OcrReading`."""

ASE_ANNOTATION = AnnotationDomain(
    reading=ASE_READING,
    measure=measure,
    measure_version=MEASURE_VERSION,
    sentences=ocr_sentences,
    vlm_prompt=VLM_PROMPT,
    llm_prompt=LLM_PROMPT,
)


def make_ocr_engine(name: str = DEFAULT_OCR_ENGINE, options: Mapping[str, Any] | None = None) -> OcrEngine:
    """The OCR engine ``name`` (``rapidocr``, ``tesseract``, ``metadata``) reading ASE plots into :class:`OcrReading`."""
    return ocr.make_ocr_engine(name, options, reading=ASE_READING)


# Phase 1 (OCR of the table, dot-cloud measurements, VLM texts; label-free) and phase 2 (LLM texts with
# class statistics from the training split only) on ASE images: the stage's own functions with the domain
# bound; their prompts default to the domain's (the paper's), as the stage does for any domain.
annotate_images = partial(pipeline.annotate_images, domain=ASE_ANNOTATION)
reason = partial(pipeline.reason, domain=ASE_ANNOTATION)


def read_numbers(
    samples: Sequence[Sample],
    ocr_engine: OcrEngine,
    cache: AnnotationCache,
    progress: ProgressCallback | None = None,
    *,
    stats: AnnotationStats | None = None,
) -> list[OcrReading]:
    """The OCR readings of ASE images only (cached), for methods that use the printed numbers without any text."""
    readings = pipeline.read_numbers(samples, ocr_engine, cache, progress, domain=ASE_ANNOTATION, stats=stats)
    return cast(list[OcrReading], readings)  # an engine from make_ocr_engine reads into ASE_READING
