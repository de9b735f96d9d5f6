"""Per-cell result records and the run directory that holds them.

Layout of a run directory::

    <run_dir>/
      config.json          resolved RunConfig of the latest invocation
      environment.json     machine and package versions of the latest invocation
      cells/<cell>.json    one record per finished cell (the source of truth)
      summary.csv/.md      tables built from the records
      per_class.csv
      results.json         schema_version + summary rows + every record

Records are written atomically, one file per cell, so a killed run loses only
the cell it was computing, and runs from several machines merge by copying
their ``cells/`` folders together.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np

from asebench.errors import ResultsError
from asebench.storage import atomic_write_bytes, atomic_write_json, atomic_write_text

SCHEMA_VERSION = 1

Status = Literal["ok", "failed", "skipped"]


class CellKeyDict(TypedDict):
    method: str
    dataset: str
    task: str
    seed: int
    fold: int
    config_hash: str


class CellRecord(TypedDict, total=False):
    """One finished cell. Every table number can be recomputed from these fields."""

    schema_version: int
    cell: CellKeyDict
    status: Status
    error: dict[str, str] | None
    skip_reason: str | None
    method: dict[str, Any]
    dataset: dict[str, Any]
    split: dict[str, Any]
    metrics: dict[str, Any]
    tail: dict[str, Any]
    episodic: dict[str, Any]
    anomaly_metrics: dict[str, Any]
    reading_metrics: dict[str, Any] | None  # optional: OCR accuracy, for methods that read printed numbers
    predictions: dict[str, Any]
    timings: dict[str, float]
    run: dict[str, Any]
    config: dict[str, Any]
    environment: dict[str, Any]
    artifacts: dict[str, str]
    created_at: str
    execution: dict[str, Any]  # optional: {"executor": ..., "attempts": ...}; absent in records before issue 8


@dataclass(frozen=True, order=True)
class CellKey:
    """Identity of one cell of the grid (ordered field by field: method, dataset, task, seed, fold, hash)."""

    method: str
    dataset: str
    task: str
    seed: int
    fold: int
    config_hash: str

    @property
    def filename(self) -> str:
        return (
            f"{safe(self.dataset)}__{self.task}__{safe(self.method)}"
            f"__s{self.seed}_f{self.fold}__{self.config_hash}.json"
        )

    @classmethod
    def of(cls, record: CellRecord) -> CellKey:
        """The identity of a stored record."""
        cell = record["cell"]
        return cls(cell["method"], cell["dataset"], cell["task"], int(cell["seed"]), int(cell["fold"]), cell["config_hash"])

    def as_dict(self) -> CellKeyDict:
        return CellKeyDict(
            method=self.method, dataset=self.dataset, task=self.task,
            seed=self.seed, fold=self.fold, config_hash=self.config_hash,
        )

    def label(self) -> str:
        return f"{self.method} | {self.dataset} {self.task} | seed {self.seed} fold {self.fold}"


def safe(text: str) -> str:
    """A file-name-safe form of a name; names that needed changes get a short hash so they stay unique."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text)
    if cleaned == text:
        return text
    return f"{cleaned}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


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
                f"results directory {self.path} is not writable: {exc.strerror or exc}. "
                "Choose another with --run-dir."
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
        return np.load(self.cells_dir / name, allow_pickle=False)

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        atomic_write_text(path, text)
        return path

    def records(self) -> list[CellRecord]:
        """Every record in ``cells/``, sorted by file name (stable table order)."""
        if not self.cells_dir.is_dir():
            raise ResultsError(f"{self.path} is not a run directory (no cells/ folder)")
        return [load_record(path) for path in sorted(self.cells_dir.glob("*.json"))]


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
    kept = [r for r in chosen.values() if newest_hash[(r["cell"]["dataset"], r["cell"]["task"], r["cell"]["method"])][1] == r["cell"]["config_hash"]]
    return sorted(kept, key=record_order)


def record_order(record: CellRecord) -> tuple[str, str, str, int, int]:
    """The canonical order of records in every table: dataset, task, method, seed, fold."""
    cell = record["cell"]
    return (cell["dataset"], cell["task"], cell["method"], int(cell["seed"]), int(cell["fold"]))


def _preferred(new: CellRecord, old: CellRecord) -> bool:
    rank = {"ok": 2, "skipped": 1, "failed": 0}
    if rank[new["status"]] != rank[old["status"]]:
        return rank[new["status"]] > rank[old["status"]]
    return new.get("created_at", "") > old.get("created_at", "")
