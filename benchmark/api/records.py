"""The cell record schema: what one finished cell stores, and its identity.

Every number in a table can be recomputed from these fields. The run
directory that holds records is :mod:`asebench.store.run_directory`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

SCHEMA_VERSION = 1

Status = Literal["ok", "failed", "skipped"]


class CellKeyDict(TypedDict):
    """A :class:`CellKey` as JSON, the ``cell`` field of every record."""

    method: str
    dataset: str
    task: str
    seed: int
    fold: int
    config_hash: str


class CodeIdentity(TypedDict):
    """The source a method or dataset adapter is built from, so that editing it names other cells.

    ``files`` maps each file (a module name, a ``--plugin`` file's name, or
    ``owner:path`` for a declared ``code_files`` entry) to the sha256 of its
    text; ``digest`` hashes them all. Stored as ``method.code`` and
    ``dataset.code``; records written before issue 20 have neither.
    """

    digest: str
    files: dict[str, str]


class CellRecord(TypedDict, total=False):
    """One finished cell. Every table number can be recomputed from these fields."""

    schema_version: int
    cell: CellKeyDict
    status: Status
    error: dict[str, str] | None
    skip_reason: str | None
    method: dict[str, Any]  # MethodPlan.describe() (the hashed identity, with its code), provenance, proposed, ...
    dataset: dict[str, Any]  # name, version, fingerprint, options, code (the adapter's), class names, counts
    split: dict[str, Any]
    metrics: dict[str, Any]
    tail: dict[str, Any]
    episodic: dict[str, Any]
    anomaly_metrics: dict[str, Any]
    reading_metrics: dict[str, Any] | None  # optional: OCR accuracy, for methods that read printed numbers
    predictions: dict[str, Any]
    timings: dict[str, float]
    efficiency: dict[str, Any]  # optional: per-image latency, parameters, FLOPs, memory (absent before issue 23)
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
        """The record's file name: readable by eye, and unique per cell through the config hash."""
        return (
            f"{safe(self.dataset)}__{self.task}__{safe(self.method)}"
            f"__s{self.seed}_f{self.fold}__{self.config_hash}.json"
        )

    @classmethod
    def of(cls, record: CellRecord) -> CellKey:
        """The identity of a stored record."""
        cell = record["cell"]
        return cls(
            cell["method"], cell["dataset"], cell["task"], int(cell["seed"]), int(cell["fold"]), cell["config_hash"]
        )

    def as_dict(self) -> CellKeyDict:
        """The JSON form stored in a record's ``cell`` field."""
        return CellKeyDict(
            method=self.method,
            dataset=self.dataset,
            task=self.task,
            seed=self.seed,
            fold=self.fold,
            config_hash=self.config_hash,
        )

    def label(self) -> str:
        """One line naming the cell for progress output and comparisons (the hash left out)."""
        return f"{self.method} | {self.dataset} {self.task} | seed {self.seed} fold {self.fold}"


LEGACY_PROPOSED_FAMILIES = ("paper", "ours")  # how records before ``method.proposed`` marked the paper model
LEGACY_PLACEHOLDER_WEIGHTS = "random"  # provenance["weights"] of random-init weights in records before the field


def is_proposed(record: CellRecord) -> bool:
    """Whether the record's method is the benchmark's own model (:attr:`Method.proposed`).

    Read from ``method.proposed``; records written before that field marked
    the paper model only by its family (``paper`` or ``ours``, any case).
    """
    method = record.get("method") or {}
    if "proposed" in method:
        return bool(method["proposed"])
    return str(method.get("family") or "").lower() in LEGACY_PROPOSED_FAMILIES


PLACEHOLDER_WEIGHTS_NOTE = "random-init weights: plumbing check only, the numbers are meaningless"


def has_placeholder_weights(record: CellRecord) -> bool:
    """Whether the cell ran on random-init stand-in weights (:meth:`Method.placeholder_weights`).

    Read from ``method.placeholder_weights``; records written before that
    field said so only as ``provenance["weights"] == "random"``.
    """
    method = record.get("method") or {}
    if "placeholder_weights" in method:
        return bool(method["placeholder_weights"])
    return (method.get("provenance") or {}).get("weights") == LEGACY_PLACEHOLDER_WEIGHTS


def safe(text: str) -> str:
    """A file-name-safe form of a name; names that needed changes get a short hash so they stay unique."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text)
    if cleaned == text:
        return text
    return f"{cleaned}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def record_order(record: CellRecord) -> tuple[str, str, str, int, int]:
    """The canonical order of records in every table: dataset, task, method, seed, fold."""
    cell = record["cell"]
    return (cell["dataset"], cell["task"], cell["method"], int(cell["seed"]), int(cell["fold"]))
