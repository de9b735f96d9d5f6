"""Configuration facts of heavy libraries (timm's, open_clip's pretrained configs) without importing them here.

Importing timm or open_clip imports torch: about 0.7 GB of memory and a few
seconds. A run's planner asks them only which checkpoint ``weights: auto``
means, to decide which methods can run, and runs no model; with the process
executor it would hold torch all run long beside workers that hold their own.
So a process that has not loaded the library reads the facts from the cache
root (``library-facts/<distribution>-<version>-<facts>.json``), and a
subprocess computes the keys missing there, once per library version. A
process that has loaded the library (a worker) asks it directly.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asebench.store.atomic import atomic_write_text, file_lock
from asebench.store.paths import cache_root


def library_facts(
    distribution: str, module: str, producer: str, keys: Sequence[str], also: Sequence[str] = ()
) -> dict[str, Any]:
    """``producer``'s facts for ``keys``: ``"package.module:function"``, a function of a key list to a JSON dict.

    ``module`` is the library's import name: when it is loaded already the
    producer runs here. Otherwise known keys come from the cache file and the
    rest from one subprocess, which also computes the keys of ``also`` that
    are missing (those a run is likely to ask next: one subprocess instead of
    one per key); if it fails the producer runs here, so the library's own
    import error is what the caller sees.
    """
    wanted = list(dict.fromkeys(keys))
    if module in sys.modules:
        return _produce(producer, wanted)
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return _produce(producer, wanted)
    path = cache_root() / "library-facts" / f"{distribution}-{version}-{producer.rpartition(':')[2]}.json"
    known = _read(path)
    missing = [key for key in wanted if key not in known]
    if missing:
        missing += [key for key in dict.fromkeys(also) if key not in known and key not in missing]
        module_name, _, function = producer.partition(":")
        script = f"import json, sys; from {module_name} import {function}; print(json.dumps({function}(sys.argv[1:])))"
        try:
            completed = subprocess.run(
                [sys.executable, "-c", script, *missing], capture_output=True, text=True, timeout=600, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return _produce(producer, wanted)
        if completed.returncode != 0:
            return _produce(producer, wanted)
        found = dict(json.loads(completed.stdout.strip().splitlines()[-1]))  # the last line: the JSON
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(path.with_suffix(".lock")):  # read-merge-write: other processes add keys too
            known = {**_read(path), **found}
            atomic_write_text(path, json.dumps(known, sort_keys=True))
    return {key: known[key] for key in wanted}


def _produce(producer: str, keys: list[str]) -> dict[str, Any]:
    module_name, _, function = producer.partition(":")
    return dict(getattr(importlib.import_module(module_name), function)(keys))


def _read(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}
