"""The run directory: where a run's cell records, config and tables live.

Layout::

    <run_dir>/
      config.json          resolved RunConfig of the latest invocation
      environment.json     machine, CPU, thread and package facts of the latest invocation
      cells/<cell>.json    one record per finished cell (the source of truth)
      summary.csv/.md      tables built from the records
      per_class.csv
      results.json         schema_version + summary rows + every record
      run.json             wall time and cell counts of the latest ``asebench run``

Records are written atomically, one file per cell, so a killed run loses only
the cell it was computing, and runs from several machines merge by copying
their ``cells/`` folders together.
"""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from asebench.api.errors import ResultsError
from asebench.api.records import SCHEMA_VERSION, CellKey, CellRecord, record_order
from asebench.store.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

RUN_FILE = "run.json"


class RunDirectory:
    """Reads and writes the records of one run directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.cells_dir = self.path / "cells"

    def prepare(self, with_cells: bool = True) -> None:
        """Create the directory and prove it is writable before any work starts."""
        try:
            (self.cells_dir if with_cells else self.path).mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ResultsError(
                f"results directory {self.path} is not writable: {exc.strerror or exc}. Choose another with --run-dir."
            ) from exc

    def record_path(self, key: CellKey) -> Path:
        return self.cells_dir / key.filename

    def write_record(self, key: CellKey, record: CellRecord) -> Path:
        path = self.record_path(key)
        try:
            atomic_write_json(path, record)
        except OSError as exc:
            raise ResultsError(f"cannot write result record {path}: {exc.strerror or exc}") from exc
        return path

    def read_record(self, key: CellKey) -> CellRecord | None:
        path = self.record_path(key)
        return load_record(path) if path.exists() else None

    def write_json(self, name: str, payload: Any) -> Path:
        path = self.path / name
        atomic_write_json(path, payload)
        return path

    def read_json(self, name: str) -> Any:
        """A JSON file of the run directory (``run.json``, ``environment.json``), or None when it is absent."""
        path = self.path / name
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ResultsError(f"unreadable {path}: {exc}") from exc

    def write_array(self, name: str, array: np.ndarray) -> Path:
        """An array beside the records (``cells/<name>``, floats as float32), written atomically."""
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        path = self.cells_dir / name
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def read_array(self, name: str) -> np.ndarray:
        array: np.ndarray = np.load(self.cells_dir / name, allow_pickle=False)  # a .npy file: one array
        return array

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        atomic_write_text(path, text)
        return path

    def records(self) -> list[CellRecord]:
        """Every record in ``cells/``, sorted by file name (stable table order)."""
        if not self.cells_dir.is_dir():
            raise ResultsError(f"{self.path} is not a run directory (no cells/ folder)")
        return [load_record(path) for path in sorted(self.cells_dir.glob("*.json"))]

    def earlier_configurations(self, keys: Iterable[CellKey]) -> dict[CellKey, CellRecord]:
        """For each key, the newest record of the same cell under another config hash; keys without one are left out.

        A cell's files differ only in their config hash, so one listing of
        ``cells/`` finds them all and only those records are read.
        """
        wanted = {_without_hash(key.filename): key for key in keys}
        found: dict[CellKey, CellRecord] = {}
        if not wanted or not self.cells_dir.is_dir():
            return found
        for path in sorted(self.cells_dir.glob("*.json")):
            key = wanted.get(_without_hash(path.name))
            if key is None or path.name == key.filename:
                continue
            try:
                record = load_record(path)
            except ResultsError:  # only tells why a cell was recomputed: an unreadable file is no reason to stop
                continue
            other = CellKey.of(record)
            same_cell = dataclasses.replace(other, config_hash=key.config_hash) == key
            if same_cell and (key not in found or record.get("created_at", "") >= found[key].get("created_at", "")):
                found[key] = record
        return found


def _without_hash(filename: str) -> str:
    return filename.rsplit("__", 1)[0]


def load_record(path: Path) -> CellRecord:
    """Read one record, refusing files from a newer schema or that are not records."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"unreadable result record {path}: {exc}") from exc
    if not isinstance(record, dict) or "cell" not in record or "status" not in record:
        raise ResultsError(f"{path} is not an asebench cell record")
    version = record.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ResultsError(f"{path} has schema_version {version!r}; this asebench reads up to {SCHEMA_VERSION}")
    return record  # type: ignore[return-value]


def merge_records(directories: Iterable[Path]) -> list[CellRecord]:
    """Records of several run directories, one per cell, in canonical order.

    A cell present twice keeps its newest ok record. When a method was run on
    a dataset/task with several configurations (an option changed), only the
    configuration of the newest record is kept, as the run itself would show.
    """
    chosen: dict[CellKey, CellRecord] = {}
    for directory in directories:
        for record in RunDirectory(directory).records():
            identity = CellKey.of(record)
            previous = chosen.get(identity)
            if previous is None or _preferred(record, previous):
                chosen[identity] = record
    newest_hash: dict[tuple[str, str, str], tuple[str, str]] = {}
    for record in chosen.values():
        cell = record["cell"]
        group = (cell["dataset"], cell["task"], cell["method"])
        stamp = (record.get("created_at", ""), cell["config_hash"])
        newest_hash[group] = max(newest_hash.get(group, stamp), stamp)
    kept = [
        r
        for r in chosen.values()
        if newest_hash[(r["cell"]["dataset"], r["cell"]["task"], r["cell"]["method"])][1] == r["cell"]["config_hash"]
    ]
    return sorted(kept, key=record_order)


def _preferred(new: CellRecord, old: CellRecord) -> bool:
    rank = {"ok": 2, "skipped": 1, "failed": 0}
    if rank[new["status"]] != rank[old["status"]]:
        return rank[new["status"]] > rank[old["status"]]
    return new.get("created_at", "") > old.get("created_at", "")
