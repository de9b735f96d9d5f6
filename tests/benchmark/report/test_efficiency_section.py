"""The efficiency section: built from records' efficiency blocks only, old records named, Pareto front right."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.api.data import Task
from asebench.api.records import CellRecord
from asebench.report.aggregate import group_records
from asebench.report.sections.efficiency import NO_BLOCK, efficiency_table
from asebench.report.sections.efficiency_figure import pareto_front
from asebench.report.tables import table_csv, to_latex, to_markdown
from asebench.report.writer import write_report
from asebench.scoring.cell import score_cell
from asebench.scoring.tail import TailConfig

CLASSES = ("normal", "defect")


def efficiency(batch_ms: float, cold_ms: float | None, params: int | None = 1_000_000) -> dict[str, Any]:
    """An efficiency block as the runner writes it (version 1)."""
    return {
        "version": 1,
        "device": "cpu",
        "torch_threads": 2,
        "warm_cache": True,
        "batch_source": "option batch_size",
        "training_s": 3.0,
        "cell_predict_ms_per_image": batch_ms * 1.1,
        "latency": {
            "batch_1": {"batch": 1, "median_ms": batch_ms * 2, "p90_ms": batch_ms * 2.5, "repeats": 5},
            "batch": {"batch": 16, "median_ms": batch_ms, "p90_ms": batch_ms * 1.2, "repeats": 3},
        },
        "cold_cache": None if cold_ms is None else {"batch": 16, "ms_per_image": cold_ms, "cache_misses": 16},
        "cache_misses_in_cell": 0,
        "flops_per_image": 2_000_000_000,
        "flops_note": "torch FlopCounterMode",
        "parameters": {"total": params, "trainable": 0 if params else None, "note": ""},
        "memory": {"peak_rss_mb": 900.0, "rss_increase_mb": 12.0, "cuda_max_allocated_mb": None},
        "passes_s": 0.4,
        "notes": [],
    }


def make_record(
    method: str, seed: int, right: float, block: dict[str, Any] | None, detector: bool = False
) -> CellRecord:
    truth = np.repeat([0, 1], [30, 30])
    rng = np.random.default_rng(seed)
    predicted = np.where(rng.random(len(truth)) < right, truth, 1 - truth)
    metrics, tail = score_cell(
        truth.tolist(), predicted.tolist(), CLASSES, Task.BINARY, [40, 40], TailConfig(), 0, seed
    )
    record: dict[str, Any] = {
        "schema_version": 1,
        "cell": {"method": method, "dataset": "toyset", "task": "binary", "seed": seed, "fold": 0, "config_hash": "h"},
        "status": "ok",
        "method": {
            "name": method,
            "family": "toy",
            "options": {},
            "capabilities": ["anomaly detector"] if detector else [],
        },
        "dataset": {"name": "toyset", "fingerprint": "fp", "class_names": list(CLASSES)},
        "split": {"seed": seed, "fold": 0, "digest": f"s{seed}", "train_counts": [40, 40], "test_counts": [30, 30]},
        "metrics": metrics,
        "tail": tail,
        "predictions": {"ids": [f"i{k}" for k in range(60)], "y_true": truth.tolist(), "y_pred": predicted.tolist()},
        "timings": {"fit_s": 3.0, "predict_s": 0.1, "total_s": 3.2},
        "created_at": "2024-01-01T00:00:00+00:00",
    }
    if detector:
        record["anomaly_metrics"] = {"image_auroc": 0.8 + seed / 100, "notes": []}
    if block is not None:
        record["efficiency"] = block
    return record  # type: ignore[return-value]


@pytest.fixture()
def records() -> list[CellRecord]:
    out = []
    for seed in (0, 1):
        out += [
            make_record("fast", seed, 0.9, efficiency(1.0, 1.5)),
            make_record("slow", seed, 0.8, efficiency(10.0, None)),  # slower and worse: off the front
            make_record("detector", seed, 0.7, efficiency(4.0, 40.0, params=None), detector=True),
            make_record("old", seed, 0.95, None),  # written before the runner measured efficiency
        ]
    out.append(make_record("mixed", 0, 0.85, efficiency(2.0, 2.0)))
    out.append(make_record("mixed", 1, 0.85, None))
    return out


def test_the_table_shows_means_over_cells_and_names_what_is_missing(records: list[CellRecord]) -> None:
    table = efficiency_table(group_records(records))
    assert table is not None
    rows = {row["method"]: row for row in table.data_rows}
    assert rows["fast"]["batch_median_ms"] == pytest.approx(1.0) and rows["fast"]["cold_ms"] == pytest.approx(1.5)
    assert rows["fast"]["batch1_median_ms"] == pytest.approx(2.0) and rows["fast"]["params_total"] == 1_000_000
    assert rows["slow"]["cold_ms"] is None
    assert rows["detector"]["accuracy_metric"] == "image_auroc"
    assert rows["detector"]["accuracy"] == pytest.approx(0.805)
    assert rows["fast"]["accuracy_metric"] == "macro_f1"
    assert rows["old"]["cells"] == 0 and rows["old"]["cells_without_efficiency"] == 2
    assert rows["mixed"]["cells"] == 1 and rows["mixed"]["cells_without_efficiency"] == 1
    markdown = to_markdown(table)
    assert NO_BLOCK in markdown
    assert any(n.startswith("old on toyset binary: 2 of 2 cell(s) have no efficiency block") for n in table.notes)
    assert any(n.startswith("mixed on toyset binary: 1 of 2") for n in table.notes)
    assert any("parameters not reported" in n and "detector" in n for n in table.notes)
    header = next(csv.reader(io.StringIO(table_csv(table))))
    assert {"batch1_median_ms", "batch1_p90_ms", "cold_ms", "training_s", "params_total", "flops_per_image"} <= set(
        header
    )
    assert "ms/img b=1" in to_latex(table)


def test_the_pareto_front_keeps_the_methods_nothing_beats_on_both_axes() -> None:
    points = [(1.0, 0.7, "a"), (2.0, 0.9, "b"), (3.0, 0.8, "c"), (5.0, 0.95, "d"), (5.0, 0.6, "e"), (0.5, 0.5, "f")]
    assert [p[2] for p in pareto_front(points)] == ["f", "a", "b", "d"]


def test_the_report_writes_the_section_in_every_format_with_its_figure(
    records: list[CellRecord], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    output = write_report(records, [tmp_path], tmp_path)
    folder = output.folder
    for suffix in ("md", "csv", "tex"):
        assert (folder / f"efficiency.{suffix}").is_file()
    figures = [f for f in output.figures if f.stem.startswith("efficiency__")]
    assert [f.stem for f in figures] == ["efficiency__toyset__binary"] and figures[0].png.stat().st_size > 0
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert 'id="efficiency"' in page and "Accuracy against latency" in page
    assert "## Efficiency" in (folder / "report.md").read_text(encoding="utf-8")


def test_records_without_any_efficiency_block_still_report_and_say_so(tmp_path: Path) -> None:
    old = [make_record("old", seed, 0.9, None) for seed in (0, 1)]
    output = write_report(old, [tmp_path], tmp_path, plots=False)
    text = (output.folder / "efficiency.md").read_text(encoding="utf-8")
    assert NO_BLOCK in text and "have no efficiency block" in text
    assert not any(f.stem.startswith("efficiency__") for f in output.figures)
