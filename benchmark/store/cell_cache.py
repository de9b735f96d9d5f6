"""Finished cells shared between run directories: the cell cache under the cache root.

A run reuses the finished cells of its own run directory; the cell cache adds
the finished cells of every other run on this machine, so a rerun into a new
run directory (``make run`` again, another ``--run-dir``, a new grid that
shares cells with an old one) recomputes only what it has not seen. A cell is
found by its record's file name, which carries its config hash (options,
method and adapter code, data, split, profile), inside a folder named by a
*context* hash: what a result also depends on but the config hash leaves out
(installed packages, the harness's own code, CPU, device, executor, episode
and timing settings; :func:`asebench.run.environment.cell_cache_context`).

Layout: ``<cache root>/cells/<context>/`` is a run directory of its own
(``cells/<record>.json`` and array sidecars), with ``context.json`` naming what
its hash covers; ``asebench report`` reads it like any run. Only ``ok``
records go in, arrays before the record, each written atomically, so a record
never points to a missing array. A reused record is copied into the run
directory with ``execution.cell_cache`` naming the folder it came from; its
timings are those of the run that computed it.

Weights are not part of a config hash (``weights: auto`` resolves at run
time), so a record whose provenance names a weights file (``weights_path``
and ``weights_sha256``) is reused only while that file still hashes the same.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from asebench.api.data import file_sha256
from asebench.api.errors import ResultsError
from asebench.api.records import CellKey, CellRecord
from asebench.store.hashing import stable_hash
from asebench.store.run_directory import RunDirectory

CELL_CACHE_FOLDER = "cells"
CONTEXT_FILE = "context.json"


class CellCache:
    """The cached finished cells of one context (see the module docstring)."""

    def __init__(self, root: Path, context: Mapping[str, Any]) -> None:
        self.context = dict(context)
        self.path = Path(root) / CELL_CACHE_FOLDER / stable_hash(self.context, length=16)
        self._cells = RunDirectory(self.path)

    def get(self, key: CellKey) -> tuple[CellRecord, dict[str, np.ndarray]] | None:
        """The ``ok`` record of ``key`` and its arrays (by file name), or None; an unreadable entry is a miss."""
        try:
            record = self._cells.read_record(key)
            if record is None or record.get("status") != "ok":
                return None
            arrays = {name: self._cells.read_array(name) for name in (record.get("artifacts") or {}).values()}
        except (ResultsError, OSError, ValueError):
            return None
        return (record, arrays) if weights_unchanged(record) else None

    def put(self, key: CellKey, record: CellRecord, arrays: Mapping[str, np.ndarray]) -> None:
        """Keep an ``ok`` record and its arrays (named as in ``record["artifacts"]``); other records are ignored.

        Raises :class:`~asebench.api.errors.ResultsError` when the cache cannot be written.
        """
        if record.get("status") != "ok":
            return
        try:
            if not (self.path / CONTEXT_FILE).is_file():
                self._cells.prepare()
                self._cells.write_json(CONTEXT_FILE, self.context)
            for name, array in arrays.items():
                self._cells.write_array(name, array)
        except OSError as exc:
            raise ResultsError(f"cannot write the cell cache {self.path}: {exc.strerror or exc}") from exc
        self._cells.write_record(key, record)


def weights_unchanged(record: CellRecord) -> bool:
    """Whether the weights file a record's provenance names (if any) still has the sha256 it recorded."""
    provenance = record.get("method", {}).get("provenance") or {}
    path, recorded = provenance.get("weights_path"), provenance.get("weights_sha256")
    if not path or not recorded:
        return True
    try:
        stat = Path(path).stat()
        return bool(_sha256_of(str(path), stat.st_size, stat.st_mtime_ns) == recorded)
    except OSError:
        return False


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    """A file's sha256, computed once per process while its size and modification time stay the same."""
    return file_sha256(Path(path))
