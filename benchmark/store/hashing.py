"""Content hashes that name cells, caches and artifacts."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def stable_hash(payload: Any, length: int = 12) -> str:
    """Short sha256 of a JSON-serialisable payload, independent of key order."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]
