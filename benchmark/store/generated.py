"""Directories of generated data (the synthetic datasets): content-addressed, written once, atomically.

A generator writes into a temporary sibling that is renamed into place only
when complete, so a killed generation leaves nothing a later run would trust,
and two processes generating the same directory at once both end with it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from asebench.store.atomic import atomic_write_json
from asebench.store.hashing import stable_hash
from asebench.store.paths import cache_dir

MANIFEST = "manifest.json"  # written last into every generated directory: what it holds and from which options


def generated_location(name: str, version: str | int, content: Mapping[str, Any], parent: Path | None = None) -> Path:
    """``<parent>/v<version>-<hash of content>``; ``parent`` defaults to the cache's ``datasets/<name>``."""
    base = parent.expanduser() if parent is not None else cache_dir("datasets", name)
    return base / f"v{version}-{stable_hash(dict(content))}"


def ensure_generated(final: Path, write: Callable[[Path], Mapping[str, Any]]) -> Path:
    """``final``, complete; if it does not exist, ``write(staging)`` fills it and returns its manifest."""
    if not final.is_dir():
        _generate_into(final, write)
    return final


def _generate_into(final: Path, write: Callable[[Path], Mapping[str, Any]]) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        atomic_write_json(staging / MANIFEST, dict(write(staging)))
        try:
            os.rename(staging, final)
        except OSError:
            if not (final / MANIFEST).is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def generation_workers() -> int:
    """Threads for writing generated images: the CPUs this process may use, at most 4 (more does not pay)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(4, available))
