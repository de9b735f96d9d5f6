"""Comparing methods against a reference on the same test samples: pairing, paired bootstrap, McNemar, seed tests.

Comparisons pair two methods' cells only when they saw the same test set:
equal dataset fingerprint, split digest, seed and fold, and the same test
sample ids (aligned by id, so storage order does not matter).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from asebench.api.records import CellRecord
from asebench.report.aggregate import MethodCells, ReportSettings, by_dataset_task
from asebench.scoring.bootstrap import PairedBootstrap, paired_bootstrap
from asebench.scoring.statistics import McNemar, SeedTest, mcnemar_counts, seed_test


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
    return (
        record["dataset"]["fingerprint"],
        record["split"]["digest"],
        int(record["cell"]["seed"]),
        int(record["cell"]["fold"]),
    )


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
            notes.append(
                f"seed {seed} fold {fold}: no {reference.method} cell with the same data fingerprint and split"
            )
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
    known = [r for r in ratios if r is not None]
    return None if len(known) < len(ratios) else float(np.mean(known))


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
    bootstrap: PairedBootstrap | None = None  # None: the reference itself, or nothing to pair
    mcnemar: McNemar | None = None
    seeds: SeedTest | None = None
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
                own = (reference_note,) if reference_note else ()
                out.append(Comparison(dataset, task, group.method, reference.method, len(group.ok), notes=own))
                continue
            pairs, pairing_notes = pair_cells(group, reference)
            if not pairs:
                unpaired = tuple(pairing_notes) or ("no paired cells",)
                out.append(Comparison(dataset, task, group.method, reference.method, 0, notes=unpaired))
                continue
            boot = (
                paired_bootstrap(
                    [(p.y_true, p.pred_method, p.pred_reference) for p in pairs],
                    num_classes,
                    settings.bootstrap_samples,
                    settings.confidence,
                    settings.bootstrap_seed,
                )
                if settings.bootstrap_samples > 0
                else None
            )
            method_only = sum(int(np.sum((p.pred_method == p.y_true) & (p.pred_reference != p.y_true))) for p in pairs)
            reference_only = sum(
                int(np.sum((p.pred_method != p.y_true) & (p.pred_reference == p.y_true))) for p in pairs
            )
            seeds = seed_test(
                [p.score_method for p in pairs],
                [p.score_reference for p in pairs],
                settings.seed_test,
                _mean_ratio(pairs),
            )
            out.append(
                Comparison(
                    dataset,
                    task,
                    group.method,
                    reference.method,
                    len(pairs),
                    boot,
                    mcnemar_counts(method_only, reference_only),
                    seeds,
                    tuple(pairing_notes),
                )
            )
    return out


def comparison_index(comparisons: Iterable[Comparison]) -> dict[tuple[str, str, str], Comparison]:
    return {(c.dataset, c.task, c.method): c for c in comparisons}
