"""The K-shot table: metric against the number of shots K per method family, mean and t-interval over seeds.

Where K comes from (records only):

* anomaly detectors: the provenance's ``k_shots`` (PatchCore, WinCLIP, APRIL-GAN
  record it; ``None`` = every training normal, shown as ``full``), else the
  option ``k`` of a method with normal reference shots or zero-shot capability
  (the ``k`` of a kNN detector counts neighbours, not shots, and is not read);
  K = 0 is zero-shot. Metric: image AUROC.
* episodic few-shot classifiers: each K of the record's ``episodic`` block (the
  run's ``episodes.shots``); metric: the episodes' mean macro-F1.

A *family* is the method name without its shot suffix: ``@k=<v>`` (a ``sweeps``
variant), then ``-<n>shot``, then ``-fewshot``, so ``patchcore-1shot``,
``patchcore@k=8`` and ``patchcore`` draw one curve, as do ``winclip`` and
``winclip-fewshot``. Methods of one family at the same K are pooled.
Per seed the value is the mean over the seed's cells (folds, or categories:
each counts once); the table shows the mean over seeds and Student's t-interval
(one seed: no interval, and the table says so). Transfer-protocol cells are
left to the transfer section.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from asebench.api.records import CellRecord
from asebench.report.aggregate import MethodCells, number, task_rank
from asebench.report.studies.common import (
    METRIC_LABELS,
    SeedSummary,
    interval_text,
    is_detector,
    per_seed,
    protocol_of,
    summarise,
)
from asebench.report.tables import Cell, Column, Table

FULL = -1  # K of "every training normal": sorts after any real K
SHOT_CAPABILITIES = ("normal reference shots", "zero-shot")
ABSENT = (
    "no K-shot results: the records hold no anomaly detector with a recorded shot count (provenance k_shots or "
    "option k) and no episodic few-shot evaluation; run e.g. patchcore-1shot/-2shot/-4shot and patchcore, "
    "winclip and winclip-fewshot, or sweep K with the config key sweeps: {patchcore: {k: [1, 2, 4, 8]}}"
)
_SWEEP_K = re.compile(r"@k=[^@]*")
_SHOT_SUFFIX = re.compile(r"-(\d+shot|fewshot)$")
PanelKey = tuple[str, str, str, str]  # dataset, task, protocol, metric


def family_of(method: str) -> str:
    """``patchcore-4shot`` / ``patchcore@k=4`` -> ``patchcore``; ``winclip-fewshot`` -> ``winclip``."""
    return _SHOT_SUFFIX.sub("", _SWEEP_K.sub("", method))


def k_text(k: int) -> str:
    return "full" if k == FULL else str(k)


def detector_shots(record: CellRecord) -> tuple[bool, int]:
    """(whether the record says how many normal shots the detector used, K or :data:`FULL`)."""
    provenance = record["method"].get("provenance") or {}
    options = record["method"].get("options") or {}
    if "k_shots" in provenance:
        value = provenance["k_shots"]
    elif "k" in options and set(SHOT_CAPABILITIES) & set(record["method"].get("capabilities") or []):
        value = options["k"]
    else:
        return False, FULL
    return True, FULL if value is None else int(value)


@dataclass(frozen=True)
class KPoint:
    """One (family, K) point of a panel."""

    dataset: str
    task: str
    protocol: str
    metric: str
    family: str
    k: int
    methods: tuple[str, ...]
    summary: SeedSummary
    episode_ci95: float | None  # episodic: mean over seeds of the CI half-width over episodes


def _episodic(record: CellRecord, k: str) -> float | None:
    entry = (record.get("episodic") or {}).get(k) or {}
    return number((entry.get("macro_f1") or {}).get("mean"))


def kshot_points(groups: Sequence[MethodCells]) -> tuple[list[KPoint], list[str]]:
    """Every (panel, family, K) point with its summary over seeds, and notes on what is missing."""
    buckets: dict[tuple[PanelKey, str, int], list[tuple[str, CellRecord]]] = defaultdict(list)
    notes: list[str] = []
    for group in groups:
        records = [r for r in group.ok if protocol_of(r) != "transfer"]
        if not records:
            continue
        family = family_of(group.method)
        if "episodic" in group.capabilities:
            blocks = [r for r in records if r.get("episodic")]
            if not blocks:
                notes.append(f"{group.method} on {group.dataset} {group.task}: no episodic block in its records")
            for record in blocks:
                for shots, entry in record["episodic"].items():
                    if "unavailable" in entry:
                        text = f"{group.method} on {group.dataset} {group.task}, K={shots}: {entry['unavailable']}"
                        notes += [text] if text not in notes else []
                        continue
                    panel = (group.dataset, group.task, protocol_of(record), "macro_f1")
                    buckets[(panel, family, int(shots))].append((group.method, record))
        elif any(is_detector(r) for r in records):
            known = [(r, *detector_shots(r)) for r in records]
            if not any(found for _, found, _ in known):
                if set(SHOT_CAPABILITIES) & set(group.capabilities):
                    notes.append(f"{group.method} on {group.dataset} {group.task}: no shot count in its records")
                continue
            for record, found, count in known:
                if found:
                    buckets[((group.dataset, group.task, protocol_of(record), "image_auroc"), family, count)].append(
                        (group.method, record)
                    )
    points = []
    for (panel, family, k), members in buckets.items():
        records = [r for _, r in members]
        if panel[3] == "macro_f1":
            values = per_seed(records, partial(_episodic, k=str(k)))
            halves = per_seed(records, partial(_episode_half, k=str(k)))
        else:
            values = per_seed(records, lambda r: number((r.get("anomaly_metrics") or {}).get("image_auroc")))
            halves = []
        summary = summarise(values)
        if summary is None:
            notes.append(
                f"{family} K={k_text(k)} on {panel[0]} {panel[1]}: no {METRIC_LABELS[panel[3]]} in the records"
            )
            continue
        methods = tuple(sorted({m for m, _ in members}))
        episode = sum(halves) / len(halves) if halves else None
        points.append(KPoint(*panel, family, k, methods, summary, episode))
    points.sort(key=lambda p: (p.dataset, task_rank(p.task), p.protocol, p.metric, p.family, p.k == FULL, p.k))
    return points, notes


def _episode_half(record: CellRecord, k: str) -> float | None:
    entry = (record.get("episodic") or {}).get(k) or {}
    return number((entry.get("macro_f1") or {}).get("ci95"))


DATA_COLUMNS = [
    "dataset",
    "task",
    "protocol",
    "metric",
    "family",
    "k",
    "methods",
    "seeds",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "episode_ci95",
]


def kshot_table(groups: Sequence[MethodCells]) -> Table | None:
    """Metric against K per family (rows: family then K, full last); None without any K-shot record."""
    points, notes = kshot_points(groups)
    if not points:
        return None
    table = Table(
        key="kshot",
        title="K-shot: metric against the number of shots",
        columns=[
            Column("dataset"),
            Column("task"),
            Column("protocol"),
            Column("metric"),
            Column("family"),
            Column("K", "r"),
            Column("methods"),
            Column("seeds", "r"),
            Column("mean", "r", "max"),
            Column("95% CI over seeds", "r"),
        ],
        caption=(
            "K = normal reference shots of an anomaly detector (0 = zero-shot, full = every training normal; "
            "metric I-AUROC) or support shots per class of an episodic few-shot classifier (metric: macro-F1, "
            "mean over episodes). Family = method name without -<n>shot, -fewshot or @k=<v>. Per seed the mean "
            "over its cells (categories count once); mean over seeds and Student's t 95% interval (one seed: none)."
        ),
        data_columns=DATA_COLUMNS,
    )
    for p in points:
        label = METRIC_LABELS[p.metric]
        group = f"{p.dataset} {p.task} {p.protocol} {label}"
        table.add_row(
            [
                Cell(p.dataset),
                Cell(p.task),
                Cell(p.protocol),
                Cell(label),
                Cell(p.family),
                Cell(k_text(p.k)),
                Cell(", ".join(p.methods)),
                Cell(str(p.summary.seeds)),
                Cell(f"{p.summary.mean:.3f}", round(p.summary.mean, 3)),
                Cell(interval_text(p.summary)),
            ],
            group=group,
        )
        table.data_rows.append(_data(p))
    singles = sorted({(p.family, p.dataset) for p in points} - _multi(points))
    if singles:
        notes.append("run at one K only: " + ", ".join(f"{f} on {d}" for f, d in singles))
    if all(p.summary.seeds == 1 for p in points):
        notes.append("one seed per point: no interval over seeds (run several seeds for one)")
    table.notes = notes
    return table


def _multi(points: Sequence[KPoint]) -> set[tuple[str, str]]:
    ks: dict[tuple[str, str], set[int]] = defaultdict(set)
    for p in points:
        ks[(p.family, p.dataset)].add(p.k)
    return {key for key, values in ks.items() if len(values) > 1}


def _data(p: KPoint) -> dict[str, Any]:
    return {
        "dataset": p.dataset,
        "task": p.task,
        "protocol": p.protocol,
        "metric": p.metric,
        "family": p.family,
        "k": k_text(p.k),
        "methods": " ".join(p.methods),
        "seeds": p.summary.seeds,
        "mean": p.summary.mean,
        "std": p.summary.std,
        "ci_low": p.summary.low,
        "ci_high": p.summary.high,
        "episode_ci95": p.episode_ci95,
    }
