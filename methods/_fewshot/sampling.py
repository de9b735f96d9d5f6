"""Seeded K-shot selection from the training split, and meta-task sizes (numpy only).

Two things every few-shot method needs, kept torch-free so they are unit
tested directly:

* :func:`select_shots`: the K-per-class support that builds the classifier
  for the *full test set* prediction. It draws from the training split only,
  with a generator derived from the run seed, and reports classes that had
  fewer than K samples instead of crashing (it uses what there is).
* :func:`meta_task_sizes`: the support/query sizes of meta-training tasks,
  reduced to what the smallest training class allows, with the reason.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asebench.api.reproducibility import derived_seeds


def method_rng(seed: int, purpose: str) -> np.random.Generator:
    """A numpy generator from the run's derived numpy seed, separate per ``purpose``."""
    return np.random.default_rng([derived_seeds(seed)["numpy"], zlib.crc32(purpose.encode())])


def python_seed(seed: int, purpose: str) -> int:
    """A seed for Python's ``random`` (learn2learn's task transforms draw from it)."""
    return int(
        np.random.SeedSequence([derived_seeds(seed)["python"], zlib.crc32(purpose.encode())]).generate_state(1)[0]
    )


@dataclass(frozen=True)
class ShotSelection:
    """Positions (into the split) of the chosen support, and what was asked and got."""

    indices: np.ndarray
    requested: int | str
    per_class: dict[str, int]
    short: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = {"shots": self.requested, "per_class": self.per_class}
        if self.short:
            report["reduced"] = {
                name: f"only {count} training samples (fewer than {self.requested}): all used"
                for name, count in self.short.items()
            }
        return report


def select_shots(
    labels: np.ndarray, class_names: Sequence[str], shots: int | str, rng: np.random.Generator
) -> ShotSelection:
    """K positions per class of ``labels`` (a training split), or all of them for ``"all"``.

    A class with fewer than K samples contributes all it has and is listed in
    ``short``; a class with none raises, since no classifier can name it.
    """
    labels = np.asarray(labels)
    chosen: list[np.ndarray] = []
    per_class: dict[str, int] = {}
    short: dict[str, int] = {}
    for k, name in enumerate(class_names):
        members = np.flatnonzero(labels == k)
        if len(members) == 0:
            raise ValueError(f"class {name!r} has no training samples: a few-shot support set cannot include it")
        if shots == "all":
            take = members
        else:
            if len(members) < int(shots):
                short[name] = len(members)
            take = np.sort(rng.choice(members, min(int(shots), len(members)), replace=False))
        chosen.append(take)
        per_class[name] = len(take)
    return ShotSelection(np.concatenate(chosen), shots, per_class, short)


@dataclass(frozen=True)
class TaskSizes:
    """Support and query samples per class in a meta-training task."""

    ways: int
    shots: int
    queries: int
    note: str | None = None

    def report(self, requested_shots: int, requested_queries: int) -> dict[str, Any]:
        report: dict[str, Any] = {"ways": self.ways, "shots": self.shots, "queries": self.queries}
        if self.note:
            report["reduced"] = f"asked {requested_shots} shots + {requested_queries} queries: {self.note}"
        return report


def meta_task_sizes(
    counts: Sequence[int] | np.ndarray, class_names: Sequence[str], ways: int | None, shots: int, queries: int
) -> TaskSizes:
    """Fit ``shots + queries`` per class into the smallest training class.

    Support and query are disjoint, so a class of ``m`` samples allows at
    most ``m`` of them together: shots are kept first (down to ``m - 1``),
    then queries fill the rest (at least 1). A class with fewer than 2
    samples cannot give both and is an error that names it.
    """
    counts = [int(c) for c in counts]
    num_classes = len(counts)
    if ways is None:
        ways = num_classes
    if ways > num_classes:
        raise ValueError(f"ways={ways} but the task has only {num_classes} classes")
    smallest = int(np.argmin(counts))
    m = counts[smallest]
    if m < 2:
        raise ValueError(
            f"class {class_names[smallest]!r} has {m} training sample(s); meta-training needs at least 2 per class "
            "(1 support + 1 query)"
        )
    if shots + queries <= m:
        return TaskSizes(ways, shots, queries)
    new_shots = min(shots, m - 1)
    new_queries = max(1, min(queries, m - new_shots))
    note = (
        f"class {class_names[smallest]!r} has only {m} training samples, so {new_shots} shots + {new_queries} queries"
    )
    return TaskSizes(ways, new_shots, new_queries, note)
