"""Text backends for the VLM and LLM roles, behind one interface (:mod:`.base`), chosen by name.

================  ==========================================================  =====
name              what produces the text                                      roles
================  ==========================================================  =====
``openai``        any OpenAI-compatible chat-completions endpoint              both
``transformers``  a local model directory (transformers pipelines)             both
``cache``         a JSONL file of precomputed texts (exact reproduction)       both
================  ==========================================================  =====

A domain may register more (:func:`register_backend`): the ASE domain adds
the offline stand-ins ``dot-cloud-describer`` (**not a VLM**) and
``numeric-reasoner`` (**not an LLM**), see :mod:`asebench.domains.ase.stand_ins`.
Heavy libraries (requests, transformers, torch) are imported inside the
backends, so importing this package stays cheap.
"""

from __future__ import annotations

from asebench.annotation.backends.base import (
    ROLES,
    BackendOptions,
    ProgressCallback,
    Role,
    TextBackend,
    TextRequest,
)
from asebench.annotation.backends.jsonl_cache import JsonlCacheBackend, TextRecord, write_text_records
from asebench.annotation.backends.openai_compat import OpenAICompatBackend
from asebench.annotation.backends.registry import BACKENDS, make_backend, register_backend
from asebench.annotation.backends.transformers_local import TransformersBackend

__all__ = [
    "BACKENDS",
    "ROLES",
    "BackendOptions",
    "JsonlCacheBackend",
    "OpenAICompatBackend",
    "ProgressCallback",
    "Role",
    "TextBackend",
    "TextRecord",
    "TextRequest",
    "TransformersBackend",
    "make_backend",
    "register_backend",
    "write_text_records",
]
