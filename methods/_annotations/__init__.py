"""Annotations for the paper's VLM-LLM model: OCR numbers, image descriptions and decision texts, cached.

They are produced once per image before training (``ase-paper.md`` §8.1):
training never calls a VLM, an LLM or OCR. Two phases, because of the
leakage rule (``ase-paper.md`` §3, §8.5):

1. :func:`annotate_images` (label-free, any split): OCR reading of the radius
   table and statistics (:mod:`.ocr`), pixel measurements of the dot cloud
   (:mod:`.measure`) and a pool of VLM texts, one per seed.
2. :func:`reason`: LLM texts from the prompt, the seed-matched VLM text and
   the OCR template sentences (:mod:`.templates`), whose per-class averages
   come from a :class:`ClassStatistics` fitted on the **training split only**.

Text backends (:mod:`.backends`) play the VLM and LLM roles: an
OpenAI-compatible endpoint, a local transformers model, a JSONL file of
published texts, or two offline stand-ins. **Honesty rule:** the stand-ins
``dot-cloud-describer`` (pixel measurements written as sentences) and
``numeric-reasoner`` (nearest class mean over the numbers) are not a VLM and
not an LLM; their ``kind`` and provenance say so, and results that use them
must never be presented as the paper's VLM/LLM method.

Importing this package is light (numpy, scipy, pillow, pydantic): requests,
transformers and RapidOCR are imported only when used.
"""

from __future__ import annotations

from asebench.methods._annotations.backends import (
    BACKENDS,
    DEFAULT_LLM_BACKEND,
    DEFAULT_VLM_BACKEND,
    STAND_IN_BACKENDS,
    TextBackend,
    TextRecord,
    TextRequest,
    make_backend,
    write_text_records,
)
from asebench.methods._annotations.backends.dot_cloud_describer import describe_features
from asebench.methods._annotations.cache import AnnotationCache, TextKey
from asebench.methods._annotations.errors import AnnotationError, BackendError, OcrError
from asebench.methods._annotations.measure import MEASURE_VERSION, measure
from asebench.methods._annotations.ocr import (
    DEFAULT_OCR_ENGINE,
    OCR_ENGINES,
    MetadataEngine,
    OcrEngine,
    RapidOcrEngine,
    TesseractEngine,
    engine_provenance,
    make_ocr_engine,
)
from asebench.methods._annotations.ocr_layout import TextBox, parse_boxes, reading_from_boxes
from asebench.methods._annotations.ocr_reading import COUNT_KEYS, FLAT_KEYS, STAT_KEYS, OcrReading
from asebench.methods._annotations.pipeline import ImageAnnotation, annotate_images, read_numbers, reason, text_records
from asebench.methods._annotations.prompts import LLM_PROMPT, VLM_PROMPT
from asebench.methods._annotations.stats import AnnotationStats, ComponentUsage
from asebench.methods._annotations.templates import ClassStatistics, ocr_sentences

__all__ = [
    "BACKENDS",
    "COUNT_KEYS",
    "DEFAULT_LLM_BACKEND",
    "DEFAULT_OCR_ENGINE",
    "DEFAULT_VLM_BACKEND",
    "FLAT_KEYS",
    "LLM_PROMPT",
    "MEASURE_VERSION",
    "OCR_ENGINES",
    "STAND_IN_BACKENDS",
    "STAT_KEYS",
    "VLM_PROMPT",
    "AnnotationCache",
    "AnnotationError",
    "AnnotationStats",
    "BackendError",
    "ClassStatistics",
    "ComponentUsage",
    "ImageAnnotation",
    "MetadataEngine",
    "OcrEngine",
    "OcrError",
    "OcrReading",
    "RapidOcrEngine",
    "TesseractEngine",
    "TextBackend",
    "TextBox",
    "TextKey",
    "TextRecord",
    "TextRequest",
    "annotate_images",
    "describe_features",
    "engine_provenance",
    "make_backend",
    "make_ocr_engine",
    "measure",
    "ocr_sentences",
    "parse_boxes",
    "read_numbers",
    "reading_from_boxes",
    "reason",
    "text_records",
    "write_text_records",
]
