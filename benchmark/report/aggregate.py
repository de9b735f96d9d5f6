"""Aggregating stored cell records for reports: groups, pooled intervals, paired comparisons.

This is the data layer under the report tables and figures. It reads records
only (predictions, per-class scores, tail buckets) and never runs a model.

Comparisons pair two methods' cells only when they saw the same test set:
equal dataset fingerprint, split digest, seed and fold, and the same test
sample ids (aligned by id, so storage order does not matter).
"""

from __future__ import annotations

import statistics as pystats
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asebench.api.records import CellRecord, record_order
from asebench.scoring.bootstrap import Interval, PairedBootstrap, paired_bootstrap, pooled_bootstrap_ci
from asebench.scoring.statistics import McNemar, SeedTest, SeedTestName, mcnemar_counts, seed_test

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
        source = (self.ok or self.failed or self.skipped)[0]
        return bool(source["method"].get("proposed"))

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
            groups[key] = MethodCells(cell["dataset"], cell["task"], cell["method"], str(record["method"].get("family") or ""))
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
    return np.sum([np.asarray(r["metrics"]["confusion_matrix"], dtype=np.int64) for r in group.ok], axis=0)


def bucket_scores(group: MethodCells) -> dict[str, tuple[float, float] | None]:
    """Mean and std of head/medium/tail macro-F1 over cells (None when the bucket is empty)."""
    out: dict[str, tuple[float, float] | None] = {}
    for bucket in ("head", "medium", "tail"):
        values = [r["tail"]["bucket_macro_f1"][bucket] for r in group.ok]
        present = [float(v) for v in values if v is not None]
        out[bucket] = (pystats.fmean(present), pystats.stdev(present) if len(present) > 1 else 0.0) if present else None
    return out


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


# -- comparisons -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedCell:
    """One cell of each method on the same test set, aligned by sample id."""

    seed: int
    fold: int
    y_true: np.ndarray
    pred_method: np.ndarray
    pred_reference: np.ndarray
    score_method: float
    score_reference: float
    test_train_ratio: float | None = None


def _pair_identity(record: CellRecord) -> tuple[Any, ...]:
    return (record["dataset"]["fingerprint"], record["split"]["digest"], int(record["cell"]["seed"]), int(record["cell"]["fold"]))


def pair_cells(method: MethodCells, reference: MethodCells) -> tuple[list[PairedCell], list[str]]:
    """Cells of ``method`` and ``reference`` that share fingerprint, split digest, seed, fold and test ids.

    Returns the pairs and one note per cell that could not be paired.
    """
    theirs = {_pair_identity(r): r for r in reference.ok if r.get("predictions")}
    pairs, notes = [], []
    for record in method.ok:
        seed, fold = int(record["cell"]["seed"]), int(record["cell"]["fold"])
        other = theirs.get(_pair_identity(record))
        if other is None or not record.get("predictions"):
            notes.append(f"seed {seed} fold {fold}: no {reference.method} cell with the same data fingerprint and split")
            continue
        mine, ref = record["predictions"], other["predictions"]
        position = {sample_id: i for i, sample_id in enumerate(ref["ids"])}
        if sorted(position) != sorted(mine["ids"]) or len(position) != len(mine["ids"]):
            notes.append(f"seed {seed} fold {fold}: test sample ids differ from {reference.method}'s")
            continue
        order = np.array([position[i] for i in mine["ids"]], dtype=np.int64)
        y_true = np.asarray(mine["y_true"], dtype=np.int64)
        if not np.array_equal(np.asarray(ref["y_true"], dtype=np.int64)[order], y_true):
            notes.append(f"seed {seed} fold {fold}: test labels differ from {reference.method}'s")
            continue
        pairs.append(
            PairedCell(
                seed=seed,
                fold=fold,
                y_true=y_true,
                pred_method=np.asarray(mine["y_pred"], dtype=np.int64),
                pred_reference=np.asarray(ref["y_pred"], dtype=np.int64)[order],
                score_method=float(record["metrics"]["macro_f1"]),
                score_reference=float(other["metrics"]["macro_f1"]),
                test_train_ratio=_test_train_ratio(record),
            )
        )
    return pairs, notes


def _test_train_ratio(record: CellRecord) -> float | None:
    """Test samples over training samples of the cell's split (what the corrected seed test needs); None if unrecorded.

    Validation samples are not counted as training, which keeps the correction on the conservative side.
    """
    split = record.get("split") or {}
    test, train = sum(split.get("test_counts") or []), sum(split.get("train_counts") or [])
    return test / train if test and train else None


def _mean_ratio(pairs: Sequence[PairedCell]) -> float | None:
    ratios = [p.test_train_ratio for p in pairs]
    return None if any(r is None for r in ratios) else float(np.mean(ratios))


def choose_reference(groups: Sequence[MethodCells], wanted: str | None) -> tuple[MethodCells | None, str]:
    """The reference method of one (dataset, task): ``wanted`` when it has results, else the best mean.

    Returns the group and a note when ``wanted`` could not be used.
    """
    scored = [g for g in groups if g.ok]
    if not scored:
        return None, ""
    if wanted is not None:
        for group in scored:
            if group.method == wanted:
                return group, ""
    best = min(scored, key=lambda g: (-(g.mean or 0.0), g.method))
    note = f"reference {wanted!r} has no results here; using the best mean instead" if wanted else ""
    return best, note


@dataclass(frozen=True)
class Comparison:
    """One method against the reference of its (dataset, task)."""

    dataset: str
    task: str
    method: str
    reference: str
    pairs: int
    bootstrap: PairedBootstrap | None
    mcnemar: McNemar | None
    seeds: SeedTest | None
    notes: tuple[str, ...] = ()

    @property
    def is_reference(self) -> bool:
        return self.method == self.reference

    def significant(self, alpha: float) -> bool | None:
        """Whether the paired bootstrap rejects equal macro-F1 (None when it could not run)."""
        if self.bootstrap is None:
            return None
        return self.bootstrap.p_value < alpha


def compare(groups: Sequence[MethodCells], settings: ReportSettings) -> list[Comparison]:
    """Every method with results against the reference of its (dataset, task)."""
    out = []
    for (dataset, task), members in by_dataset_task(groups).items():
        reference, reference_note = choose_reference(members, settings.reference)
        if reference is None:
            continue
        num_classes = len(reference.class_names)
        for group in members:
            if not group.ok:
                continue
            if group is reference:
                out.append(Comparison(dataset, task, group.method, reference.method, len(group.ok), None, None, None, (reference_note,) if reference_note else ()))
                continue
            pairs, notes = pair_cells(group, reference)
            if not pairs:
                out.append(Comparison(dataset, task, group.method, reference.method, 0, None, None, None, tuple(notes) or ("no paired cells",)))
                continue
            boot = (
                paired_bootstrap(
                    [(p.y_true, p.pred_method, p.pred_reference) for p in pairs],
                    num_classes, settings.bootstrap_samples, settings.confidence, settings.bootstrap_seed,
                )
                if settings.bootstrap_samples > 0 else None
            )
            method_only = sum(int(np.sum((p.pred_method == p.y_true) & (p.pred_reference != p.y_true))) for p in pairs)
            reference_only = sum(int(np.sum((p.pred_method != p.y_true) & (p.pred_reference == p.y_true))) for p in pairs)
            seeds = seed_test(
                [p.score_method for p in pairs], [p.score_reference for p in pairs], settings.seed_test, _mean_ratio(pairs)
            )
            out.append(Comparison(dataset, task, group.method, reference.method, len(pairs), boot, mcnemar_counts(method_only, reference_only), seeds, tuple(notes)))
    return out


def comparison_index(comparisons: Iterable[Comparison]) -> dict[tuple[str, str, str], Comparison]:
    return {(c.dataset, c.task, c.method): c for c in comparisons}


def differing_options(option_sets: Sequence[dict[str, Any]]) -> list[str]:
    """Option keys whose values are not the same in every set (sorted)."""
    keys = sorted(set().union(*option_sets)) if option_sets else []
    missing = object()
    return [k for k in keys if len({repr(o.get(k, missing)) for o in option_sets}) > 1]
