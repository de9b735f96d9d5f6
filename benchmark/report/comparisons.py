"""Comparing methods against a reference on the same test samples: pairing, paired bootstrap, McNemar, seed tests.

Each test's p-values are Holm-corrected over the family of every comparison in
the report's significance table (all datasets and tasks together, one family
per test); the † marks use the corrected bootstrap p-value. Anomaly methods
(records with stored image anomaly scores) are also compared on image AUROC
with DeLong's paired test (:func:`compare_anomaly`).

Comparisons pair two methods' cells only when they saw the same test set:
equal dataset fingerprint, split digest, seed and fold, and the same test
sample ids (aligned by id, so storage order does not matter).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from asebench.api.records import CellRecord
from asebench.report.aggregate import MethodCells, ReportSettings, by_dataset_task
from asebench.report.anomaly_table import protocol_label
from asebench.scoring.bootstrap import PairedBootstrap, paired_bootstrap
from asebench.scoring.delong import CombinedDeLong, DeLongTest, combine_cells, delong_test
from asebench.scoring.statistics import McNemar, SeedTest, holm, mcnemar_counts, seed_test


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
    p_bootstrap_holm: float | None = None  # Holm-corrected over the table's comparisons (see compare)
    p_mcnemar_holm: float | None = None
    p_seeds_holm: float | None = None

    @property
    def is_reference(self) -> bool:
        return self.method == self.reference

    def significant(self, alpha: float) -> bool | None:
        """Whether the paired bootstrap rejects equal macro-F1 after Holm's correction (None when it could not run)."""
        if self.bootstrap is None:
            return None
        p = self.p_bootstrap_holm if self.p_bootstrap_holm is not None else self.bootstrap.p_value
        return p < alpha


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
    return with_holm(out)


def with_holm(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons with Holm-corrected p-values, one family per test over all of them (the reference rows excluded)."""
    boot = holm([c.bootstrap.p_value if c.bootstrap else None for c in comparisons])
    mc = holm([c.mcnemar.p_value if c.mcnemar else None for c in comparisons])
    seeds = holm([c.seeds.p_value if c.seeds else None for c in comparisons])
    return [
        replace(c, p_bootstrap_holm=b, p_mcnemar_holm=m, p_seeds_holm=s)
        for c, b, m, s in zip(comparisons, boot, mc, seeds, strict=True)
    ]


def comparison_index(comparisons: Iterable[Comparison]) -> dict[tuple[str, str, str], Comparison]:
    return {(c.dataset, c.task, c.method): c for c in comparisons}


@dataclass(frozen=True)
class AnomalyComparison:
    """One anomaly method's image AUROC against the reference anomaly method of its (dataset, task, protocol)."""

    dataset: str
    task: str
    protocol: str
    method: str
    reference: str
    pairs: int
    test: CombinedDeLong | None = None  # None: the reference itself, or nothing to pair
    p_holm: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_reference(self) -> bool:
        return self.method == self.reference


def _scored(record: CellRecord) -> bool:
    return record.get("status") == "ok" and (record.get("predictions") or {}).get("anomaly_scores") is not None


def _is_anomalous(record: CellRecord) -> np.ndarray:
    """Defective (True) or normal per test image, from the record's labels and the dataset's normal class."""
    names = list(record["dataset"].get("class_names") or [])
    normal = record["dataset"].get("normal_class")
    index = names.index(normal) if normal in names else 0
    labels: np.ndarray = np.asarray(record["predictions"]["y_true"], dtype=np.int64) != index
    return labels


def _image_auroc(record: CellRecord) -> float:
    value = (record.get("anomaly_metrics") or {}).get("image_auroc")
    return float(value) if isinstance(value, (int, float)) else float("nan")


def compare_anomaly(groups: Sequence[MethodCells], settings: ReportSettings) -> list[AnomalyComparison]:
    """DeLong's paired test of image AUROC for every method with stored anomaly scores against the reference.

    Blocks are (dataset, task, protocol). The reference is ``settings.reference`` when it has anomaly
    scores there, else the method with the best mean image AUROC. p-values are Holm-corrected over
    every comparison returned (one family: the anomaly significance table).
    """
    blocks: dict[tuple[str, str, str], dict[str, list[CellRecord]]] = {}
    for group in groups:
        for record in group.ok:
            if _scored(record):
                key = (group.dataset, group.task, protocol_label(record))
                blocks.setdefault(key, {}).setdefault(group.method, []).append(record)
    out: list[AnomalyComparison] = []
    for (dataset, task, protocol), by_method in sorted(blocks.items()):
        means = {m: float(np.nanmean([_image_auroc(r) for r in rs] or [np.nan])) for m, rs in by_method.items()}
        wanted = settings.reference if settings.reference in by_method else None
        reference = wanted or min(by_method, key=lambda m: (-(means[m] if not np.isnan(means[m]) else -1.0), m))
        own = (
            (f"reference {settings.reference!r} has no anomaly scores here; using the best mean image AUROC",)
            if settings.reference and not wanted
            else ()
        )
        for method in sorted(by_method):
            if method == reference:
                out.append(
                    AnomalyComparison(dataset, task, protocol, method, reference, len(by_method[method]), notes=own)
                )
                continue
            tests, notes, test_sets = _delong_pairs(by_method[method], by_method[reference], reference)
            if not tests:
                out.append(
                    AnomalyComparison(
                        dataset, task, protocol, method, reference, 0, notes=tuple(notes) or ("no paired cells",)
                    )
                )
                continue
            disjoint = sum(len(s) for s in test_sets) == len(set().union(*test_sets))
            combined = combine_cells(tests, disjoint)
            notes += [combined.note] if combined.note else []
            out.append(
                AnomalyComparison(dataset, task, protocol, method, reference, len(tests), combined, notes=tuple(notes))
            )
    adjusted = holm([c.test.p_value if c.test else None for c in out])
    return [replace(c, p_holm=p) for c, p in zip(out, adjusted, strict=True)]


def _delong_pairs(
    mine: Sequence[CellRecord], theirs: Sequence[CellRecord], reference: str
) -> tuple[list[DeLongTest], list[str], list[set[str]]]:
    """One DeLong test per cell paired with the reference's (same fingerprint, split, seed, fold and image ids)."""
    by_identity = {_pair_identity(r): r for r in theirs}
    tests, notes, test_sets = [], [], []
    for record in mine:
        where = f"seed {record['cell']['seed']} fold {record['cell']['fold']}"
        other = by_identity.get(_pair_identity(record))
        if other is None:
            notes.append(f"{where}: no {reference} cell with the same data fingerprint and split")
            continue
        ids, position = record["predictions"]["ids"], {i: k for k, i in enumerate(other["predictions"]["ids"])}
        if sorted(position) != sorted(ids) or len(position) != len(ids):
            notes.append(f"{where}: test image ids differ from {reference}'s")
            continue
        order = np.array([position[i] for i in ids], dtype=np.int64)
        truth = _is_anomalous(record)
        if not np.array_equal(_is_anomalous(other)[order], truth):
            notes.append(f"{where}: test labels differ from {reference}'s")
            continue
        a = np.asarray(record["predictions"]["anomaly_scores"], dtype=np.float64)
        b = np.asarray(other["predictions"]["anomaly_scores"], dtype=np.float64)[order]
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            notes.append(f"{where}: non-finite anomaly scores")
            continue
        if truth.all() or not truth.any():
            notes.append(f"{where}: the test images are all of one class (no AUROC)")
            continue
        tests.append(delong_test(truth, a, b))
        test_sets.append({str(i) for i in ids})
    return tests, notes, test_sets
