"""Text backends for the VLM and LLM roles, behind one interface (:mod:`.base`), chosen by name.

=======================  ==========================================================  =====
name                     what produces the text                                      roles
=======================  ==========================================================  =====
``openai``               any OpenAI-compatible chat-completions endpoint              both
``transformers``         a local model directory (transformers pipelines)             both
``cache``                a JSONL file of precomputed texts (exact reproduction)       both
``dot-cloud-describer``  pixel measurements written as sentences: **not a VLM**       vlm
``numeric-reasoner``     nearest class mean over OCR numbers: **not an LLM**          llm
=======================  ==========================================================  =====

Heavy libraries (requests, transformers, torch) are imported inside the
backends, so importing this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from asebench.api.errors import ConfigError
from asebench.methods._annotations.backends.base import (
    ROLES,
    BackendOptions,
    ProgressCallback,
    Role,
    TextBackend,
    TextRequest,
)
from asebench.methods._annotations.backends.dot_cloud_describer import DotCloudDescriber
from asebench.methods._annotations.backends.jsonl_cache import JsonlCacheBackend, TextRecord, write_text_records
from asebench.methods._annotations.backends.numeric_reasoner import NumericReasoner
from asebench.methods._annotations.backends.openai_compat import OpenAICompatBackend
from asebench.methods._annotations.backends.transformers_local import TransformersBackend

BACKENDS: Mapping[str, type[TextBackend]] = MappingProxyType(
    {
        backend.name: backend
        for backend in (
            OpenAICompatBackend,
            TransformersBackend,
            JsonlCacheBackend,
            DotCloudDescriber,
            NumericReasoner,
        )
    }
)
DEFAULT_VLM_BACKEND = DotCloudDescriber.name
DEFAULT_LLM_BACKEND = NumericReasoner.name
STAND_IN_BACKENDS: frozenset[str] = frozenset({DotCloudDescriber.name, NumericReasoner.name})
"""Backends whose texts must never be reported as VLM/LLM output."""


def make_backend(name: str, options: Mapping[str, Any] | None = None) -> TextBackend:
    """The backend registered as ``name``, with ``options`` validated by its ``Options`` model."""
    try:
        backend_class = BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown text backend {name!r}; choose one of {', '.join(BACKENDS)}") from None
    try:
        parsed = backend_class.Options.model_validate(dict(options or {}))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"bad options for text backend {name!r}: {problems}") from None
    return backend_class(parsed)


__all__ = [
    "BACKENDS",
    "DEFAULT_LLM_BACKEND",
    "DEFAULT_VLM_BACKEND",
    "ROLES",
    "STAND_IN_BACKENDS",
    "BackendOptions",
    "DotCloudDescriber",
    "JsonlCacheBackend",
    "NumericReasoner",
    "OpenAICompatBackend",
    "ProgressCallback",
    "Role",
    "TextBackend",
    "TextRecord",
    "TextRequest",
    "TransformersBackend",
    "make_backend",
    "write_text_records",
]
