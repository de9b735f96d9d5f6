"""Errors of the annotation stage; all are user-facing :class:`AsebenchError` subclasses."""

from __future__ import annotations

from asebench.api.errors import AsebenchError


class AnnotationError(AsebenchError):
    """Base class: an annotation (OCR or text) could not be produced."""


class OcrError(AnnotationError):
    """An OCR engine failed or was misused (not: an image without a table, which reads as empty)."""


class BackendError(AnnotationError):
    """A text backend failed: endpoint error, missing cache entry, bad model directory."""
