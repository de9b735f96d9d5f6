"""The annotation stage: OCR, VLM and LLM texts per image, produced once before training and cached.

Training never calls a VLM, an LLM or OCR (``docs/paper-model-defaults.md``, "Encoders"): a method
runs this stage first. Two phases, because of the leakage rule
(``docs/paper-model-defaults.md``, "Training and protocol"):

1. :func:`annotate_images` (label-free, any split): the OCR reading, the
   domain's pixel measurements and a pool of VLM texts, one per seed.
2. :func:`reason`: LLM texts from the prompt, the seed-matched VLM text and
   the domain's sentences for the reading, with class statistics fitted on the
   **training split only** (:mod:`.out_of_fold` cross-fits the training split's
   own texts).

This package is generic: text backends (:mod:`.backends`), OCR engines
(:mod:`.ocr`), the content-addressed cache (:mod:`.cache`), usage counts
(:mod:`.stats`). What a domain's images print and how they are described
comes in as an :class:`AnnotationDomain` (:mod:`.domain`); the ASE plot's
is ``asebench.domains.ase.annotation``, which also binds these functions to
it. Dependencies point one way: domains import this package, never the reverse.

**Honesty rule:** a backend that is not a language model (the ASE domain's
stand-ins) says so in its ``kind`` and provenance; results that use it must
never be presented as VLM/LLM output.

Importing this package is light (numpy, pillow, pydantic): requests,
transformers and RapidOCR are imported only when used.
"""

from __future__ import annotations

from asebench.annotation.backends import (
    BACKENDS,
    TextBackend,
    TextRecord,
    TextRequest,
    make_backend,
    register_backend,
    write_text_records,
)
from asebench.annotation.cache import AnnotationCache, TextKey
from asebench.annotation.domain import AnnotationDomain, ClassSummary, Reading, ReadingFormat
from asebench.annotation.errors import AnnotationError, BackendError, OcrError
from asebench.annotation.ocr import (
    DEFAULT_OCR_ENGINE,
    OCR_ENGINES,
    MetadataEngine,
    OcrEngine,
    RapidOcrEngine,
    TesseractEngine,
    engine_provenance,
    make_ocr_engine,
)
from asebench.annotation.pipeline import ImageAnnotation, annotate_images, read_numbers, reason, text_records
from asebench.annotation.stats import AnnotationStats, ComponentUsage
from asebench.annotation.text_box import TextBox

__all__ = [
    "BACKENDS",
    "DEFAULT_OCR_ENGINE",
    "OCR_ENGINES",
    "AnnotationCache",
    "AnnotationDomain",
    "AnnotationError",
    "AnnotationStats",
    "BackendError",
    "ClassSummary",
    "ComponentUsage",
    "ImageAnnotation",
    "MetadataEngine",
    "OcrEngine",
    "OcrError",
    "RapidOcrEngine",
    "Reading",
    "ReadingFormat",
    "TesseractEngine",
    "TextBackend",
    "TextBox",
    "TextKey",
    "TextRecord",
    "TextRequest",
    "annotate_images",
    "engine_provenance",
    "make_backend",
    "make_ocr_engine",
    "read_numbers",
    "reason",
    "register_backend",
    "text_records",
    "write_text_records",
]
