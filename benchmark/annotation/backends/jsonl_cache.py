"""``cache``: texts read from a JSONL file instead of generated: the way to reproduce a published run exactly.

One JSON object per line::

    {"sample_id": "type1_0003", "role": "vlm", "text": "The pink dot group ...", "seed": 0}
    {"image_sha256": "9f2c...", "role": "llm", "text": "According to ..."}

An entry names its image by ``sample_id`` or by ``image_sha256`` (the sha256
of the image file's bytes, as ``sha256sum`` prints it), or both. ``seed`` is
optional: an entry without one answers every seed (a pool of one text),
one with a seed answers only that seed. ``match`` chooses which identifier is
looked up (``auto``: the sample id first, then the image hash).

A request the file cannot answer is an error that names the sample, the role
and the seed, never a silent fallback: a reproduction must use exactly the
published texts. ``version`` is the sha256 of the file, so the annotation
cache never mixes two files' texts. :func:`write_text_records` writes the
format (the pipeline's texts can be published with it).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from asebench.annotation.backends.base import ROLES, BackendOptions, TextBackend, TextRequest
from asebench.annotation.errors import BackendError
from asebench.store.atomic import atomic_write_text

_IDENTIFIERS = ("sample_id", "image_sha256")
_ANY_SEED = -1


class JsonlCacheOptions(BackendOptions):
    """``path``: the JSONL file; ``match``: which identifier to look up."""

    path: Path | None = None
    match: Literal["auto", "sample_id", "image_sha256"] = "auto"


@dataclass(frozen=True)
class TextRecord:
    """One line of the file: a text for one image, role and (optionally) seed."""

    role: str
    text: str
    sample_id: str | None = None
    image_sha256: str | None = None
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


def write_text_records(path: Path, records: Iterable[TextRecord]) -> None:
    """Write ``records`` as JSONL (sorted keys, one per line), atomically."""
    lines = [json.dumps(record.to_json(), sort_keys=True, ensure_ascii=False) for record in records]
    atomic_write_text(Path(path), "\n".join(lines) + ("\n" if lines else ""))


class JsonlCacheBackend(TextBackend):
    """Texts looked up in a JSONL file (see the module docstring)."""

    name: ClassVar[str] = "cache"
    kind: ClassVar[str] = "precomputed texts from a JSONL file (whatever produced them)"
    Options: ClassVar[type[BackendOptions]] = JsonlCacheOptions

    @property
    def _opts(self) -> JsonlCacheOptions:
        assert isinstance(self.options, JsonlCacheOptions)
        return self.options

    @property
    def model(self) -> str:
        return self._opts.path.name if self._opts.path is not None else ""

    @functools.cached_property
    def version(self) -> str:
        path = self._opts.path
        if path is None or not path.is_file():
            return "missing"
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]

    def availability(self) -> str | None:
        path = self._opts.path
        if path is None:
            return "the cache backend needs path: a JSONL file of precomputed texts"
        if not path.is_file():
            return f"text cache file {path} does not exist"
        return None

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "path": str(self._opts.path), "file_sha256_16": self.version}

    def generate(self, request: TextRequest) -> str:
        index = self._index
        identifiers = [i for i in _IDENTIFIERS if self._opts.match in ("auto", i)]
        for identifier in identifiers:
            value = getattr(request, identifier)
            by_seed = index.get((identifier, value, request.role)) if value else None
            if by_seed is None:
                continue
            if request.seed in by_seed:
                return by_seed[request.seed]
            if _ANY_SEED in by_seed:
                return by_seed[_ANY_SEED]
            seeds = sorted(s for s in by_seed if s != _ANY_SEED)
            raise BackendError(
                f"text cache {self._opts.path}: sample {request.sample_id!r} has {request.role} texts for "
                f"seed(s) {seeds} but not for seed {request.seed}; lower the pool size or add the texts"
            )
        raise BackendError(
            f"text cache {self._opts.path} has no {request.role} text for sample {request.sample_id!r} "
            f"(image sha256 {request.image_sha256 or 'unknown'}, looked up by {' then '.join(identifiers)})"
        )

    @functools.cached_property
    def _index(self) -> dict[tuple[str, str, str], dict[int, str]]:
        reason = self.availability()
        if reason is not None:
            raise BackendError(reason)
        path = self._opts.path
        assert path is not None
        index: dict[tuple[str, str, str], dict[int, str]] = {}
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    _add_entry(index, _parse_line(line, path, number), path, number)
        return index


def _parse_line(line: str, path: Path, number: int) -> Mapping[str, Any]:
    try:
        entry = json.loads(line)
    except ValueError as exc:
        raise BackendError(f"{path}:{number}: not valid JSON ({exc})") from None
    if not isinstance(entry, dict):
        raise BackendError(f"{path}:{number}: each line must be a JSON object")
    if entry.get("role") not in ROLES:
        raise BackendError(f"{path}:{number}: 'role' must be one of {list(ROLES)}, got {entry.get('role')!r}")
    if not isinstance(entry.get("text"), str) or not entry["text"].strip():
        raise BackendError(f"{path}:{number}: 'text' must be a non-empty string")
    if not any(isinstance(entry.get(i), str) and entry[i] for i in _IDENTIFIERS):
        raise BackendError(f"{path}:{number}: an entry needs 'sample_id' or 'image_sha256'")
    seed = entry.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise BackendError(f"{path}:{number}: 'seed' must be a non-negative integer, got {seed!r}")
    return entry


def _add_entry(
    index: dict[tuple[str, str, str], dict[int, str]], entry: Mapping[str, Any], path: Path, number: int
) -> None:
    seed = _ANY_SEED if entry.get("seed") is None else int(entry["seed"])
    for identifier in _IDENTIFIERS:
        value = entry.get(identifier)
        if not value:
            continue
        by_seed = index.setdefault((identifier, str(value), str(entry["role"])), {})
        if seed in by_seed and by_seed[seed] != entry["text"]:
            raise BackendError(
                f"{path}:{number}: a second, different {entry['role']} text for {identifier} {value!r}"
                f" and seed {'any' if seed == _ANY_SEED else seed}"
            )
        by_seed[seed] = str(entry["text"])
