"""The one interface every text backend implements: a request in, a text out.

A backend plays the paper's VLM (``role='vlm'``: image + prompt ->
description) or LLM (``role='llm'``: prompt + VLM description + OCR sentences
-> decision text). Real models (an OpenAI-compatible endpoint, a local
transformers model) and offline stand-ins (the pixel-measuring describer, the
numeric reasoner) and a JSONL file of published texts all sit behind it, so the
pipeline and its cache never care which one runs.

Honesty rule: a backend that is not a language model says so in
``kind`` and in :meth:`TextBackend.provenance`; results must never present
its texts as VLM or LLM output.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["vlm", "llm"]
ROLES: tuple[str, ...] = ("vlm", "llm")
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TextRequest:
    """One generation: who asks (``role``), the prompt, the input text, the image and structured facts.

    ``text`` is ``''`` for a VLM; for an LLM it is the VLM description plus
    the OCR template sentences. ``image_png`` is only set for a VLM.
    ``facts`` carries structured inputs the offline stand-ins read instead of
    the text (for the LLM: ``ocr`` flat numbers, ``features`` measured by the
    describer, ``class_statistics`` from the training split); real models
    ignore it. ``seed`` selects one generation of the augmentation pool.
    ``sample_id`` and ``image_sha256`` identify the image (the JSONL cache
    backend looks texts up by them).
    """

    role: Role
    prompt: str
    text: str = ""
    image_png: bytes | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    sample_id: str = ""
    image_sha256: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if self.role == "vlm" and self.image_png is None:
            raise ValueError("a 'vlm' request needs image_png")

    def user_text(self) -> str:
        """The single user message real models get: the prompt, then (for the LLM) the input text."""
        return self.prompt if not self.text else f"{self.prompt}\n\n{self.text}"

    def input_hash(self) -> str:
        """sha256 over the input text and the facts: part of the cache key (facts change stand-in outputs)."""
        return input_hash(self.text, self.facts)


def input_hash(text: str, facts: Mapping[str, Any]) -> str:
    """sha256 of a canonical JSON of the input text and facts (the image is keyed separately by its sha256)."""
    payload = json.dumps({"text": text, "facts": facts}, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class BackendOptions(BaseModel):
    """Base of every backend's options: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


def _no_progress(description: str, completed: int, total: int) -> None:
    return None


class TextBackend(ABC):
    """Base class of every text backend; see the module docstring.

    Subclasses set ``name``, ``kind`` and ``Options``, and implement
    :meth:`generate`; ``model`` and ``version`` (part of every cache key)
    default to the options' ``model`` and ``"1"``.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    """What produces the text, in words: e.g. 'OpenAI-compatible chat model' or '... not a VLM'."""
    Options: ClassVar[type[BackendOptions]] = BackendOptions

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @property
    def model(self) -> str:
        return str(getattr(self.options, "model", "") or self.name)

    @property
    def version(self) -> str:
        return "1"

    def availability(self) -> str | None:
        """None when usable here, else a reason that says how to fix it."""
        return None

    @abstractmethod
    def generate(self, request: TextRequest) -> str:
        """The text for one request."""

    def generate_many(self, requests: Sequence[TextRequest], progress: ProgressCallback | None = None) -> list[str]:
        """Texts for ``requests`` in order; sequential here, concurrent where a backend can overlap calls."""
        report = progress or _no_progress
        texts = []
        for done, request in enumerate(requests, start=1):
            texts.append(self.generate(request))
            report(f"{self.name} {request.role}", done, len(requests))
        return texts

    def provenance(self) -> dict[str, Any]:
        """Name, kind, model and version: what a result record needs to say which texts it used."""
        return {"backend": self.name, "kind": self.kind, "model": self.model, "version": self.version}
