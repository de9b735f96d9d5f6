"""On-disk, content-addressed cache of annotations: texts, OCR readings and measured features.

The caller passes a root (the method uses ``context.cache_dir / 'annotations'``).
Layout: ``<root>/<kind>/<2 hex>/<64 hex>.json``, one small JSON file per key,
with kind ``text``, ``ocr`` or ``features``. One file per key means writers
never contend on a shared file: several processes may annotate the same data
at once; each write is atomic (temporary file + rename, :mod:`asebench.store.atomic`),
so a reader sees a whole entry or none, and two writers of one key write the
same content. A corrupt or foreign file reads as a miss and is overwritten.
So that processes running at once compute each entry once rather than each
computing it, an entry also has a claim file, ``<root>/claims/<2 hex>/<64 hex>.lock``
(the same digest; :mod:`asebench.annotation.sharing` locks it while computing).

Keys (sha256 over a canonical JSON of), none of which names a module, so a
cache written before a refactoring still answers after it:

* text: image sha256, role, backend name, model, backend version, prompt,
  sha256 of the request's input text and facts, seed;
* OCR: image sha256, engine name, engine version (the reading itself is the
  domain's :class:`~asebench.annotation.domain.Reading`, stored as its JSON);
* features: image sha256, measurement version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from asebench.annotation.domain import Reading
from asebench.store.atomic import atomic_write_json

CACHE_FORMAT = "1"
R = TypeVar("R", bound=Reading)


@dataclass(frozen=True)
class TextKey:
    """Everything that determines one generated text."""

    image_sha256: str
    role: str
    backend: str
    model: str
    backend_version: str
    prompt: str
    input_sha256: str
    seed: int

    def digest(self) -> str:
        return _digest({"kind": "text", **asdict(self)})


class AnnotationCache:
    """Texts, OCR readings and features under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ texts

    def get_text(self, key: TextKey) -> str | None:
        payload = self._read("text", key.digest())
        if payload is None or payload.get("key") != asdict(key) or not isinstance(payload.get("text"), str):
            return None
        return str(payload["text"])

    def put_text(self, key: TextKey, text: str) -> None:
        self._write("text", key.digest(), {"key": asdict(key), "text": text})

    def text_claim(self, key: TextKey) -> Path:
        """The claim file of one text (see the module docstring)."""
        return self._claim(key.digest())

    # ------------------------------------------------------------------ OCR

    def get_ocr(
        self, image_sha256: str, engine: str, engine_version: str, decode: Callable[[Mapping[str, Any]], R]
    ) -> R | None:
        """The cached reading restored by ``decode`` (the domain's ``ReadingFormat.from_json``); None on a miss."""
        key = _ocr_key(image_sha256, engine, engine_version)
        payload = self._read("ocr", _digest({"kind": "ocr", **key}))
        if payload is None or payload.get("key") != key:
            return None
        try:
            return decode(payload["reading"])
        except (KeyError, TypeError, ValueError):
            return None

    def put_ocr(self, image_sha256: str, reading: Reading) -> None:
        key = _ocr_key(image_sha256, reading.engine, reading.engine_version)
        self._write("ocr", _digest({"kind": "ocr", **key}), {"key": key, "reading": reading.to_json()})

    def ocr_claim(self, image_sha256: str, engine: str, engine_version: str) -> Path:
        """The claim file of one image's reading by one engine."""
        return self._claim(_digest({"kind": "ocr", **_ocr_key(image_sha256, engine, engine_version)}))

    # ------------------------------------------------------------------ features

    def get_features(self, image_sha256: str, version: str) -> dict[str, float] | None:
        key = {"image_sha256": image_sha256, "version": version}
        payload = self._read("features", _digest({"kind": "features", **key}))
        if payload is None or payload.get("key") != key or not isinstance(payload.get("features"), dict):
            return None
        return {str(k): float(v) for k, v in payload["features"].items()}

    def put_features(self, image_sha256: str, version: str, features: Mapping[str, float]) -> None:
        key = {"image_sha256": image_sha256, "version": version}
        self._write("features", _digest({"kind": "features", **key}), {"key": key, "features": dict(features)})

    def features_claim(self, image_sha256: str, version: str) -> Path:
        """The claim file of one image's measurements."""
        return self._claim(_digest({"kind": "features", "image_sha256": image_sha256, "version": version}))

    # ------------------------------------------------------------------ files

    def _path(self, kind: str, digest: str) -> Path:
        return self.root / kind / digest[:2] / f"{digest}.json"

    def _claim(self, digest: str) -> Path:
        return self.root / "claims" / digest[:2] / f"{digest}.lock"

    def _read(self, kind: str, digest: str) -> dict[str, Any] | None:
        try:
            payload = json.loads(self._path(kind, digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
            return None
        return payload

    def _write(self, kind: str, digest: str, payload: dict[str, Any]) -> None:
        atomic_write_json(self._path(kind, digest), {"format": CACHE_FORMAT, **payload})


def _ocr_key(image_sha256: str, engine: str, engine_version: str) -> dict[str, str]:
    return {"image_sha256": image_sha256, "engine": engine, "engine_version": engine_version}


def _digest(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
