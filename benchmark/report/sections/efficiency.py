"""The efficiency table: what each method costs per image, from the records' ``efficiency`` blocks.

The runner measures every ok cell (:mod:`asebench.run.efficiency`); this
module only reads. Per (dataset, task, method) it shows the mean over the
cells that carry a block: warm-cache latency per image at batch 1 (median and
p90) and at the method's batch, the cold-cache latency (caches emptied: the
cost of a method that otherwise reads cached features), training time,
parameters, FLOPs per image, peak memory, device and threads, and the accuracy
the figure plots against latency (image AUROC for anomaly detectors, macro-F1
otherwise). Records written before the block existed, or with
``--no-efficiency``, are counted and named in the notes instead of shown as 0.
"""

from __future__ import annotations

import statistics as pystats
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asebench.api.records import CellRecord
from asebench.report.aggregate import ANOMALY_CAPABILITY, MethodCells, number, task_rank
from asebench.report.tables import Cell, Column, Table, fmt

NO_BLOCK = "no efficiency data"


@dataclass(frozen=True)
class EfficiencyRow:
    """One method's efficiency numbers (means over the cells that measured them; None: not measured)."""

    dataset: str
    task: str
    method: str
    cells: int
    missing: int
    values: dict[str, Any]

    @property
    def accuracy_metric(self) -> str:
        return str(self.values["accuracy_metric"])


def _mean(records: Sequence[CellRecord], read: Callable[[dict[str, Any]], Any]) -> float | None:
    values = []
    for record in records:
        try:
            value = number(read(record["efficiency"]))
        except (KeyError, TypeError):  # a pass that failed leaves None where its numbers would be
            value = None
        if value is not None:
            values.append(value)
    return pystats.fmean(values) if values else None


def _same(records: Sequence[CellRecord], key: str) -> Any:
    """The one value of ``key`` over the records, or a comma list when cells differ."""
    found = sorted({str(r["efficiency"].get(key)) for r in records})
    return found[0] if len(found) == 1 else ", ".join(found)


FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "batch1_median_ms": lambda e: e["latency"]["batch_1"]["median_ms"],
    "batch1_p90_ms": lambda e: e["latency"]["batch_1"]["p90_ms"],
    "batch": lambda e: e["latency"]["batch"]["batch"],
    "batch_median_ms": lambda e: e["latency"]["batch"]["median_ms"],
    "batch_p90_ms": lambda e: e["latency"]["batch"]["p90_ms"],
    "cold_ms": lambda e: e["cold_cache"]["ms_per_image"],
    "cold_cache_misses": lambda e: e["cold_cache"]["cache_misses"],
    "cell_predict_ms": lambda e: e["cell_predict_ms_per_image"],
    "training_s": lambda e: e["training_s"],
    "params_total": lambda e: e["parameters"]["total"],
    "params_trainable": lambda e: e["parameters"]["trainable"],
    "flops_per_image": lambda e: e["flops_per_image"],
    "peak_rss_mb": lambda e: e["memory"]["peak_rss_mb"],
    "rss_increase_mb": lambda e: e["memory"]["rss_increase_mb"],
    "cuda_max_allocated_mb": lambda e: e["memory"]["cuda_max_allocated_mb"],
}


def accuracy(group: MethodCells) -> tuple[str, float | None]:
    """The figure's y value: image AUROC for anomaly detectors, macro-F1 for the others (mean over ok cells)."""
    if ANOMALY_CAPABILITY in group.capabilities:
        values = [number((r.get("anomaly_metrics") or {}).get("image_auroc")) for r in group.ok]
        present = [v for v in values if v is not None]
        return "image_auroc", (pystats.fmean(present) if present else None)
    return "macro_f1", group.mean


def efficiency_rows(groups: Sequence[MethodCells]) -> list[EfficiencyRow]:
    """One row per (dataset, task, method) with ok cells, in table order."""
    rows = []
    for group in sorted(groups, key=lambda g: (g.dataset, task_rank(g.task), g.method)):
        if not group.ok:
            continue
        measured = [r for r in group.ok if isinstance(r.get("efficiency"), dict)]
        values: dict[str, Any] = {key: _mean(measured, read) for key, read in FIELDS.items()}
        values["device"] = _same(measured, "device") if measured else None
        values["torch_threads"] = _same(measured, "torch_threads") if measured else None
        values["accuracy_metric"], values["accuracy"] = accuracy(group)
        rows.append(
            EfficiencyRow(group.dataset, group.task, group.method, len(measured), len(group.ok) - len(measured), values)
        )
    return rows


def _millions(value: float | None) -> str:
    return "–" if value is None else f"{value / 1e6:.2f}"


def _ms(value: float | None) -> Cell:
    return Cell("–" if value is None else f"{value:.2f}", value)


COLUMNS = [
    Column("ms/img b=1", "r", "min"),
    Column("p90 b=1", "r"),
    Column("b", "r"),
    Column("ms/img b", "r", "min"),
    Column("cold ms/img", "r", "min"),
    Column("train s", "r"),
    Column("params M", "r"),
    Column("trainable M", "r"),
    Column("GFLOPs/img", "r"),
    Column("peak RSS MB", "r"),
    Column("CUDA MB", "r"),
    Column("device"),
    Column("threads", "r"),
    Column("accuracy", "r"),
]


def efficiency_table(groups: Sequence[MethodCells]) -> Table | None:
    """Per method: latency, training time, size, FLOPs, memory; None when no group has an ok cell."""
    rows = efficiency_rows(groups)
    if not rows:
        return None
    table = Table(
        key="efficiency",
        title="Efficiency: cost per image",
        columns=[Column("dataset"), Column("task"), Column("method"), Column("cells", "r"), *COLUMNS],
        caption=(
            "Measured by the runner after each cell's predict, on a fixed subset of the test split; mean over cells. "
            "ms/img: median milliseconds per image with warm caches (the one-time work a cache removes is in "
            "'train s' = fit time and in 'cold ms/img'), at batch 1 and at the method's batch b (its batch_size, "
            "else 8; at most 16). cold ms/img: one predict at batch b with the method's cache folder emptied. "
            "GFLOPs: torch operations only. Peak RSS: the process's high-water mark. accuracy: image AUROC for "
            "anomaly detectors (I), macro-F1 otherwise (F1)."
        ),
        data_columns=[
            "dataset",
            "task",
            "method",
            "cells",
            "cells_without_efficiency",
            *FIELDS,
            "device",
            "torch_threads",
            "accuracy_metric",
            "accuracy",
        ],
    )
    notes = []
    for row in rows:
        v = row.values
        flops = v["flops_per_image"]
        cells = [Cell(row.dataset), Cell(row.task), Cell(row.method), Cell(str(row.cells))]
        if row.cells == 0:
            cells += [Cell(NO_BLOCK)] + [Cell("–") for _ in COLUMNS[1:-1]]
        else:
            cells += [
                _ms(v["batch1_median_ms"]),
                _ms(v["batch1_p90_ms"]),
                Cell(fmt(v["batch"], 0)),
                _ms(v["batch_median_ms"]),
                _ms(v["cold_ms"]),
                Cell(fmt(v["training_s"], 2)),
                Cell(_millions(v["params_total"])),
                Cell(_millions(v["params_trainable"])),
                Cell("–" if flops is None else f"{flops / 1e9:.3f}"),
                Cell(fmt(v["peak_rss_mb"], 0)),
                Cell(fmt(v["cuda_max_allocated_mb"], 0)),
                Cell(str(v["device"])),
                Cell(str(v["torch_threads"])),
            ]
        label = "I" if row.accuracy_metric == "image_auroc" else "F1"
        cells.append(Cell("–" if v["accuracy"] is None else f"{v['accuracy']:.3f} ({label})"))
        table.add_row(cells, group=f"{row.dataset} {row.task}")
        table.data_rows.append(
            {
                "dataset": row.dataset,
                "task": row.task,
                "method": row.method,
                "cells": row.cells,
                "cells_without_efficiency": row.missing,
                **v,
            }
        )
        if row.missing:
            notes.append(
                f"{row.method} on {row.dataset} {row.task}: {row.missing} of {row.cells + row.missing} cell(s) have no "
                "efficiency block (written before the runner measured efficiency, or run with --no-efficiency)"
            )
    missing_params = sorted({r.method for r in rows if r.cells and r.values["params_total"] is None})
    if missing_params:
        notes.append(f"parameters not reported (the method exposes no torch modules): {', '.join(missing_params)}")
    table.notes = notes
    return table
