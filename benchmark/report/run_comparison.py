"""Cell-by-cell comparison of two run directories.

Answers "did this run reproduce that one?": the same grid run with another
executor, on another machine or after an upgrade. Cells are matched by
method, dataset, task, seed and fold, taking each side's newest record (a run
directory keeps the records of earlier configurations beside the current
ones); where the two config hashes differ (an edited method, other options),
the code files and options that differ are named with the cell. For each pair the
status, every numeric metric, the predicted labels and the stored class
probabilities are compared, and the summary tables rebuilt from each side's
records are compared as text. Only stored records are read; no model runs.

Where a cell differs, the environments of its two records are compared too
(CPU flags, BLAS thread counts, torch settings, packages, git commit), and the
two runs' ``environment.json`` once per run: the keys that differ are the
first candidates for an explanation.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from asebench.api.records import CellKey, CellRecord
from asebench.report.summary import SUMMARY_COLUMNS, summary_rows
from asebench.report.tables import to_csv
from asebench.run.environment import ADDED_IN_SCHEMA
from asebench.store.run_directory import RunDirectory


@dataclass(frozen=True)
class CellDifference:
    """One field of one cell that differs between the two runs."""

    cell: str
    field: str
    first: str
    second: str


@dataclass(frozen=True)
class EnvironmentChange:
    """One environment key (dotted path) whose value differs between the two sides."""

    path: str
    first: str
    second: str

    def __str__(self) -> str:
        return f"{self.path}: {self.first} -> {self.second}"


@dataclass
class RunComparison:
    """What matched, what is missing on either side, and what differs."""

    matched: int = 0
    only_first: list[str] = field(default_factory=list)
    only_second: list[str] = field(default_factory=list)
    differences: list[CellDifference] = field(default_factory=list)
    max_probability_difference: float = 0.0
    summary_identical: bool = True
    stored_summaries_identical: bool | None = None  # the summary.csv files as written; None when one is absent
    environment_changes: list[EnvironmentChange] | None = None  # environment.json A vs B; None when one is absent
    cell_environment_changes: dict[str, list[EnvironmentChange]] = field(default_factory=dict)  # differing cells
    older_format: dict[str, set[str]] = field(default_factory=dict)  # "A"/"B" -> keys its older format lacks
    reconfigured: int = 0  # matched cells whose two records have different config hashes

    @property
    def identical(self) -> bool:
        """Same cells, no difference beyond the tolerance, and the same summary tables."""
        differs = self.only_first or self.only_second or self.differences
        return not differs and self.summary_identical and self.stored_summaries_identical is not False


def _numeric_leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, float | None]]:
    """Every number inside nested dicts/lists, keyed by its dotted path (None stays None)."""
    if isinstance(value, Mapping):
        for key in sorted(value):
            yield from _numeric_leaves(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numeric_leaves(item, f"{prefix}[{index}]")
    elif isinstance(value, bool) or value is None:
        yield prefix, None if value is None else float(value)
    elif isinstance(value, (int, float)):
        yield prefix, float(value)


def _close(first: float | None, second: float | None, tolerance: float) -> bool:
    if first is None or second is None:
        return first is second
    if math.isnan(first) or math.isnan(second):
        return math.isnan(first) and math.isnan(second)
    return abs(first - second) <= tolerance


def _max_abs_difference(first: list[Any], second: list[Any]) -> float:
    """Largest absolute difference of two nested lists of numbers; inf for other shapes or NaN on one side only."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != b.shape:
        return math.inf
    if not a.size:
        return 0.0
    gap = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
    return float(np.nan_to_num(gap, nan=math.inf).max())


def _compare_cell(first: CellRecord, second: CellRecord, tolerance: float, comparison: RunComparison) -> None:
    label = CellKey.of(first).label()

    def differ(name: str, a: Any, b: Any) -> None:
        comparison.differences.append(CellDifference(label, name, str(a), str(b)))

    if first["status"] != second["status"]:
        differ("status", first["status"], second["status"])
        return
    if first["status"] == "skipped" and first.get("skip_reason") != second.get("skip_reason"):
        differ("skip_reason", first.get("skip_reason"), second.get("skip_reason"))
    if first["status"] == "failed":
        kind_a = (first.get("error") or {}).get("type")
        kind_b = (second.get("error") or {}).get("type")
        if kind_a != kind_b:
            differ("error.type", kind_a, kind_b)
    if first["status"] != "ok":
        return
    for section in ("metrics", "tail", "reading_metrics"):
        values_a = dict(_numeric_leaves(first.get(section) or {}))
        values_b = dict(_numeric_leaves(second.get(section) or {}))
        for name in sorted(set(values_a) | set(values_b)):
            a, b = values_a.get(name), values_b.get(name)
            if name not in values_a or name not in values_b or not _close(a, b, tolerance):
                differ(f"{section}.{name}", a, b)
    predictions_a, predictions_b = first.get("predictions") or {}, second.get("predictions") or {}
    for name in ("ids", "y_true", "y_pred"):
        entries_a, entries_b = predictions_a.get(name) or [], predictions_b.get(name) or []
        if entries_a != entries_b:
            if len(entries_a) != len(entries_b):
                differ(f"predictions.{name}", f"{len(entries_a)} entries", f"{len(entries_b)} entries")
            else:
                changed = sum(a != b for a, b in zip(entries_a, entries_b, strict=True))
                differ(f"predictions.{name}", f"{changed} of {len(entries_a)} entries", "differ")
    probabilities_a, probabilities_b = predictions_a.get("probabilities"), predictions_b.get("probabilities")
    if (probabilities_a is None) != (probabilities_b is None):
        differ("predictions.probabilities", probabilities_a is not None, probabilities_b is not None)
    elif probabilities_a is not None and probabilities_b is not None:
        gap = _max_abs_difference(probabilities_a, probabilities_b)
        comparison.max_probability_difference = max(comparison.max_probability_difference, gap)
        if gap > tolerance:
            differ("predictions.probabilities", "max abs difference", f"{gap:.3g}")


# written-at times and the like: they differ between any two runs and explain nothing
NOISE_KEYS = frozenset({"created_at", "timestamp", "started_at", "finished_at", "written_at"})
SHOWN_CHARACTERS = 80
_ABSENT: Any = object()


def _is_name_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _without(names: list[str], other: list[str]) -> list[str]:
    return [name for name in names if name not in other]


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    if _is_name_list(value):
        text = " ".join(value) or "(none)"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{key}={item}" for key, item in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def _is_pool_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, Mapping) and "internal_api" in item for item in value)


def _pools_by_name(
    first: list[Mapping[str, Any]], second: list[Mapping[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Threadpools keyed by library (``openblas``), with the file name where one side loads two of a kind."""
    ambiguous = {
        name
        for pools in (first, second)
        for name, count in Counter(str(p["internal_api"]) for p in pools).items()
        if count > 1
    }
    named: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for pools, into in zip((first, second), named, strict=True):
        for pool in pools:
            name = str(pool["internal_api"])
            name = f"{name}[{pool.get('filename')}]" if name in ambiguous else name
            while name in into:
                name += "'"
            into[name] = pool
    return named


def _added_in(path: str) -> int:
    """The environment format that introduced ``path`` (or the key above it); 1 for the original keys."""
    parts = path.split(".")
    return max((ADDED_IN_SCHEMA.get(".".join(parts[:n]), 1) for n in range(1, len(parts) + 1)), default=1)


def environment_changes(
    first: Mapping[str, Any] | None, second: Mapping[str, Any] | None, older_format: dict[str, set[str]]
) -> list[EnvironmentChange]:
    """Every environment key whose value differs, as dotted paths; noise keys skipped.

    Lists of names (CPU flags) show only the names one side has and the other lacks.

    A key that one side lacks only because its record format predates the key
    (records written before CPU and threadpool details were stored) is no
    difference: it goes to ``older_format`` under the side that lacks it.
    """
    first, second = first or {}, second or {}
    schemas = [schema if isinstance(schema := side.get("schema"), int) else 1 for side in (first, second)]
    changes: list[EnvironmentChange] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if a is _ABSENT or b is _ABSENT:
            lacking = 0 if a is _ABSENT else 1
            if schemas[lacking] < _added_in(path):
                older_format.setdefault("AB"[lacking], set()).add(path)
            else:
                changes.append(EnvironmentChange(path, _show(a), _show(b)))
        elif isinstance(a, Mapping) and isinstance(b, Mapping) and ((a and b) or not path):
            for key in sorted(set(a) | set(b), key=str):
                if key not in NOISE_KEYS:
                    walk(a.get(key, _ABSENT), b.get(key, _ABSENT), f"{path}.{key}" if path else str(key))
        elif _is_pool_list(a) and _is_pool_list(b):
            pools_a, pools_b = _pools_by_name(a, b)
            walk(pools_a, pools_b, path)
        elif _is_name_list(a) and _is_name_list(b) and a != b:  # CPU flags: only the names not on both sides
            changes.append(EnvironmentChange(path, _show(_without(a, b)), _show(_without(b, a))))
        elif a != b:
            changes.append(EnvironmentChange(path, _show(a), _show(b)))

    walk(first, second, "")
    return changes


def summary_text(records: list[CellRecord]) -> str:
    """The summary table of ``records`` as CSV, exactly as ``summary.csv`` holds it."""
    return to_csv(summary_rows(records), SUMMARY_COLUMNS)


CellIdentity = tuple[str, str, str, int, int]  # method, dataset, task, seed, fold: a cell whatever its config


def newest_per_cell(records: list[CellRecord]) -> dict[CellIdentity, CellRecord]:
    """Each cell's newest record: after an edit, the records of the earlier configuration stay in the directory."""
    newest: dict[CellIdentity, CellRecord] = {}
    for record in records:
        key = CellKey.of(record)
        identity = (key.method, key.dataset, key.task, key.seed, key.fold)
        kept = newest.get(identity)
        if kept is None or str(record.get("created_at") or "") > str(kept.get("created_at") or ""):
            newest[identity] = record
    return newest


def _label(record: CellRecord) -> str:
    return CellKey.of(record).label()


def configuration_changes(first: CellRecord, second: CellRecord) -> list[EnvironmentChange]:
    """Why two records of one cell have different config hashes: the code files and options that differ."""
    hashes = first["cell"]["config_hash"], second["cell"]["config_hash"]
    if hashes[0] == hashes[1]:
        return []
    changes = [EnvironmentChange("config_hash", *hashes)]
    parts = {
        "method": (first.get("method") or {}, second.get("method") or {}),
        "dataset": (first.get("dataset") or {}, second.get("dataset") or {}),
    }
    for part, sides in parts.items():
        files: list[dict[str, str]] = [(side.get("code") or {}).get("files") or {} for side in sides]
        for name in sorted(files[0].keys() | files[1].keys()):
            if files[0].get(name) != files[1].get(name):
                changes.append(EnvironmentChange(f"{part}.code[{name}]", *(_short(f.get(name)) for f in files)))
        options = [side.get("options") or {} for side in sides]
        for name in sorted(options[0].keys() | options[1].keys(), key=str):
            if options[0].get(name) != options[1].get(name):
                changes.append(
                    EnvironmentChange(f"{part}.options.{name}", *(_show(o.get(name, _ABSENT)) for o in options))
                )
    return changes


def _short(digest: str | None) -> str:
    return digest[:8] if digest else "absent"


def compare_runs(first: Path, second: Path, tolerance: float = 0.0) -> RunComparison:
    """Compare every cell of two run directories; ``tolerance`` bounds numeric differences."""
    records_first = newest_per_cell(RunDirectory(first).records())
    records_second = newest_per_cell(RunDirectory(second).records())
    comparison = RunComparison()
    comparison.only_first = [_label(records_first[key]) for key in sorted(records_first.keys() - records_second.keys())]
    comparison.only_second = [
        _label(records_second[key]) for key in sorted(records_second.keys() - records_first.keys())
    ]
    shared = sorted(records_first.keys() & records_second.keys())
    comparison.matched = len(shared)
    for key in shared:
        before = len(comparison.differences)
        pair = records_first[key], records_second[key]
        configuration = configuration_changes(*pair)
        comparison.reconfigured += bool(configuration)
        _compare_cell(*pair, tolerance, comparison)
        if len(comparison.differences) > before:
            comparison.cell_environment_changes[_label(pair[0])] = configuration + environment_changes(
                pair[0].get("environment"), pair[1].get("environment"), comparison.older_format
            )
    comparison.summary_identical = summary_text([records_first[i] for i in shared]) == summary_text(
        [records_second[i] for i in shared]
    )
    stored_first, stored_second = Path(first) / "summary.csv", Path(second) / "summary.csv"
    if stored_first.is_file() and stored_second.is_file():
        comparison.stored_summaries_identical = stored_first.read_bytes() == stored_second.read_bytes()
    environments = [Path(side) / "environment.json" for side in (first, second)]
    if all(path.is_file() for path in environments):
        first_env, second_env = (json.loads(path.read_text(encoding="utf-8")) for path in environments)
        comparison.environment_changes = environment_changes(first_env, second_env, comparison.older_format)
    return comparison
