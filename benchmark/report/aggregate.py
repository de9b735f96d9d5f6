"""Aggregating stored cell records for reports: groups, task order, pooled intervals, per-class means, worst classes.

This is the data layer under the report tables, the figures and the run
summary (one definition of each figure they share). It reads records only
(predictions, per-class scores, tail buckets) and never runs a model. Pairing
and testing methods against each other is :mod:`asebench.report.comparisons`.
"""

from __future__ import annotations

import statistics as pystats
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asebench.api.records import CellRecord, is_proposed, record_order
from asebench.scoring.bootstrap import Interval, pooled_bootstrap_ci
from asebench.scoring.statistics import SeedTestName

ANOMALY_CAPABILITY = "anomaly detector"  # Capabilities.labels() of an anomaly detector


def number(value: Any) -> float | None:
    """A record's stored metric as a float, or None where it is missing or not a number (bools excluded)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


TASK_ORDER = ("binary", "multiclass")  # the one task order of every table and figure: binary first


@dataclass(frozen=True)
class ReportSettings:
    """Knobs of the statistics in a report (all recorded in the report's method section)."""

    bootstrap_samples: int = 2000
    bootstrap_seed: int = 0
    confidence: float = 0.95
    alpha: float = 0.05
    seed_test: SeedTestName = "corrected"
    reference: str | None = None


# a method group's identity and headline, the first columns of every per-method CSV
GROUP_COLUMNS = (
    "dataset",
    "task",
    "method",
    "family",
    "status",
    "cells",
    "macro_f1_mean",
    "macro_f1_std",
)


@dataclass
class MethodCells:
    """Every record of one (dataset, task, method), split by status."""

    dataset: str
    task: str
    method: str
    family: str
    ok: list[CellRecord] = field(default_factory=list)
    failed: list[CellRecord] = field(default_factory=list)
    skipped: list[CellRecord] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.dataset, self.task)

    @property
    def scores(self) -> list[float]:
        return [float(r["metrics"]["macro_f1"]) for r in self.ok]

    @property
    def mean(self) -> float | None:
        return pystats.fmean(self.scores) if self.ok else None

    @property
    def std(self) -> float | None:
        scores = self.scores
        return pystats.stdev(scores) if len(scores) > 1 else (0.0 if scores else None)

    @property
    def class_names(self) -> list[str]:
        source = (self.ok or self.failed or self.skipped)[0]
        return list(source["dataset"]["class_names"])

    @property
    def options(self) -> dict[str, Any]:
        source = (self.ok or self.failed or self.skipped)[0]
        return dict(source["method"].get("options") or {})

    @property
    def capabilities(self) -> list[str]:
        source = (self.ok or self.failed or self.skipped)[0]
        return list(source["method"].get("capabilities") or [])

    @property
    def proposed(self) -> bool:
        """Whether the method is the benchmark's own model (``Method.proposed``, recorded per cell)."""
        return is_proposed((self.ok or self.failed or self.skipped)[0])

    def status_text(self) -> str:
        """``ok``, or why there is no number (``skipped``/``failed``)."""
        if self.ok:
            return "ok" if not self.failed else f"ok ({len(self.failed)} failed)"
        return "skipped" if self.skipped and not self.failed else "failed"

    def note(self) -> str | None:
        """The skip reason or error message, when some cells have no number."""
        source = self.failed[0] if self.failed else (self.skipped[0] if self.skipped and not self.ok else None)
        if source is None:
            return None
        return source.get("skip_reason") or (source.get("error") or {}).get("message") or source["status"]


def group_records(records: Iterable[CellRecord], keep_order: bool = False) -> list[MethodCells]:
    """One :class:`MethodCells` per (dataset, task, method), in canonical record order (first seen with ``keep_order``)."""
    groups: dict[tuple[str, str, str], MethodCells] = {}
    for record in records if keep_order else sorted(records, key=record_order):
        cell = record["cell"]
        key = (cell["dataset"], cell["task"], cell["method"])
        if key not in groups:
            groups[key] = MethodCells(
                cell["dataset"], cell["task"], cell["method"], str(record["method"].get("family") or "")
            )
        getattr(groups[key], record["status"]).append(record)
    return list(groups.values())


def task_rank(task: str) -> tuple[int, str]:
    """Sort key of a task: :data:`TASK_ORDER` first, any other task after them by name."""
    return (TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER), task)


def ordered_tasks(tasks: Iterable[str]) -> list[str]:
    """The distinct tasks, in task order."""
    return sorted(set(tasks), key=task_rank)


def tasks_of(groups: Sequence[MethodCells]) -> list[str]:
    """The tasks present among the groups, in task order."""
    return ordered_tasks(g.task for g in groups)


def by_dataset_task(groups: Sequence[MethodCells]) -> dict[tuple[str, str], list[MethodCells]]:
    out: dict[tuple[str, str], list[MethodCells]] = defaultdict(list)
    for group in groups:
        out[group.key].append(group)
    return dict(out)


def pooled_interval(group: MethodCells, settings: ReportSettings) -> Interval | None:
    """Bootstrap CI over test samples of the group's mean macro-F1 (None without predictions)."""
    cells = [
        (r["predictions"]["y_true"], r["predictions"]["y_pred"])
        for r in group.ok
        if r.get("predictions") and r["predictions"].get("y_true")
    ]
    if not cells or settings.bootstrap_samples <= 0:
        return None
    return pooled_bootstrap_ci(
        cells, len(group.class_names), settings.bootstrap_samples, settings.confidence, settings.bootstrap_seed
    )


# -- per class -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassAggregate:
    """One class of one method, averaged over its cells."""

    index: int
    name: str
    bucket: str
    train_count: float
    precision: float
    recall: float
    f1: float
    f1_std: float
    support: float


def class_order(group: MethodCells) -> list[int]:
    """Class indices by mean training count, most frequent first (ties: dataset order)."""
    counts = np.mean([r["split"]["train_counts"] for r in group.ok], axis=0)
    return sorted(range(len(counts)), key=lambda i: (-counts[i], i))


def per_class(group: MethodCells) -> list[ClassAggregate]:
    """Mean precision/recall/F1/support per class, in training-frequency order."""
    if not group.ok:
        return []
    rows = []
    for i in class_order(group):
        entries = [r["metrics"]["per_class"][i] for r in group.ok]
        f1s = [float(e["f1"]) for e in entries]
        rows.append(
            ClassAggregate(
                index=i,
                name=entries[0]["name"],
                bucket=_majority([r["tail"]["buckets"][i] for r in group.ok]),
                train_count=pystats.fmean(float(r["split"]["train_counts"][i]) for r in group.ok),
                precision=pystats.fmean(float(e["precision"]) for e in entries),
                recall=pystats.fmean(float(e["recall"]) for e in entries),
                f1=pystats.fmean(f1s),
                f1_std=pystats.stdev(f1s) if len(f1s) > 1 else 0.0,
                support=pystats.fmean(float(e["support"]) for e in entries),
            )
        )
    return rows


def _majority(values: list[str]) -> str:
    return max(sorted(set(values)), key=values.count)


def summed_confusion(group: MethodCells) -> np.ndarray | None:
    """Confusion matrix summed over the group's cells (rows: truth)."""
    if not group.ok:
        return None
    summed: np.ndarray = np.sum(
        [np.asarray(r["metrics"]["confusion_matrix"], dtype=np.int64) for r in group.ok], axis=0
    )
    return summed


def bucket_scores(group: MethodCells) -> dict[str, tuple[float, float] | None]:
    """Mean and std of head/medium/tail macro-F1 over cells (None when the bucket is empty)."""
    out: dict[str, tuple[float, float] | None] = {}
    for bucket in ("head", "medium", "tail"):
        values = [r["tail"]["bucket_macro_f1"][bucket] for r in group.ok]
        present = [float(v) for v in values if v is not None]
        out[bucket] = (pystats.fmean(present), pystats.stdev(present) if len(present) > 1 else 0.0) if present else None
    return out


def tail_f1(group: MethodCells | None) -> tuple[float, float] | None:
    """Mean and std of the tail bucket's macro-F1, or None without results or tail classes."""
    return bucket_scores(group).get("tail") if group is not None and group.ok else None


@dataclass(frozen=True)
class WorstClass:
    name: str
    f1: float
    bucket: str
    partner: str | None
    confused: int


def worst_classes(group: MethodCells, k: int | None = None) -> list[WorstClass]:
    """The ``k`` classes with the lowest mean F1 over cells, each with its most confused partner.

    The one rule for the run summary and the report. Ties in mean F1 go to the
    class with more training samples (it failed with more examples to learn
    from, so says more about the method), then to dataset order. The partner is the class that received most of this
    class's test samples in the confusion matrix summed over the cells (ties:
    dataset order), so it counts every misclassified sample once, whatever the
    other classes scored. The rule it replaces (the partner named most often
    among the cells' stored worst classes) only saw the cells where the class
    was among that cell's ``worst_k``, so it depended on ``worst_k`` and on
    the other classes' scores.
    """
    rows = per_class(group)
    if not rows:
        return []
    if k is None:
        k = int(group.ok[0]["tail"].get("thresholds", {}).get("worst_k", 3))
    matrix = summed_confusion(group)
    assert matrix is not None
    names = group.class_names
    out = []
    for row in sorted(rows, key=lambda r: (r.f1, -r.train_count, r.index))[:k]:
        errors = matrix[row.index].copy()
        errors[row.index] = 0
        partner = names[int(errors.argmax())] if errors.sum() > 0 else None
        out.append(WorstClass(row.name, row.f1, row.bucket, partner, int(errors.max()) if partner else 0))
    return out


def differing_options(option_sets: Sequence[dict[str, Any]]) -> list[str]:
    """Option keys whose values are not the same in every set (sorted)."""
    keys = sorted(set().union(*option_sets)) if option_sets else []
    missing = object()
    return [k for k in keys if len({repr(o.get(k, missing)) for o in option_sets}) > 1]
