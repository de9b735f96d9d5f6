"""Why cells were computed again: the code of their method (or dataset adapter) changed.

A cell's config hash covers the source its method and adapter are built from
(:mod:`asebench.run.code_identity`), so an edit gives new cells and the old
records stay beside them, unused. The runner uses this module to say so: a
cell computed now whose run directory holds a record of the same cell under
another config hash, with other stored code (or none: written before code was
recorded), counts as recomputed because of that code, naming the files that
differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asebench.api.records import CellRecord, CodeIdentity
from asebench.run.grid import CellPlan
from asebench.store.run_directory import RunDirectory


@dataclass
class CodeChange:
    """Cells of one method (or dataset) computed again because its code differs from their earlier record's."""

    cells: int = 0
    changed_files: list[str] = field(default_factory=list)  # files added, removed or edited, sorted
    unrecorded: bool = False  # some earlier records were written before code was recorded

    def describe(self, limit: int = 4) -> str:
        """What changed, for one line of output: the files (at most ``limit``) or the missing record."""
        names = self.changed_files[:limit]
        if len(self.changed_files) > limit:
            names.append(f"and {len(self.changed_files) - limit} more")
        if self.unrecorded:
            names.append("earlier records were written before code was recorded")
        return ", ".join(names)


@dataclass
class CodeChanges:
    """Per method and per dataset name, the cells computed again because of their code."""

    methods: dict[str, CodeChange] = field(default_factory=dict)
    datasets: dict[str, CodeChange] = field(default_factory=dict)


def code_changes(
    computed: Iterable[CellPlan], run_dir: RunDirectory, dataset_codes: Mapping[str, CodeIdentity | None]
) -> CodeChanges:
    """The code changes behind the cells ``computed`` now; ``dataset_codes``: each dataset's current code."""
    plans = {plan.key: plan for plan in computed}
    changes = CodeChanges()
    for key, earlier in run_dir.earlier_configurations(plans).items():
        plan = plans[key]
        _count(changes.methods, plan.method.name, (earlier.get("method") or {}).get("code"), plan.method.code)
        current = dataset_codes.get(plan.dataset)
        if current is not None:
            _count(changes.datasets, plan.dataset, _stored_dataset_code(earlier), current)
    return changes


def _stored_dataset_code(record: CellRecord) -> Any:
    dataset: dict[str, Any] = record.get("dataset") or {}
    return dataset.get("code")


def _count(changes: dict[str, CodeChange], name: str, stored: Any, current: CodeIdentity) -> None:
    """Count one cell under ``name`` when its earlier record's code (``stored``) is not ``current``."""
    if isinstance(stored, dict) and stored.get("digest") == current["digest"]:
        return
    change = changes.setdefault(name, CodeChange())
    change.cells += 1
    if not isinstance(stored, dict):
        change.unrecorded = True
        return
    before: dict[str, str] = stored.get("files") or {}
    after = current["files"]
    differing = {file for file in before.keys() | after.keys() if before.get(file) != after.get(file)}
    change.changed_files = sorted(differing.union(change.changed_files))
