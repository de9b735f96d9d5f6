"""On the committed reference runs, the run summary and the report name the same figures.

Both take them from :mod:`asebench.report.aggregate`; this checks the written
values, so a later change to either side cannot make them drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asebench.report.aggregate import ReportSettings, group_records
from asebench.report.paper_tables import paper_main_table
from asebench.report.sections.classes import tail_table
from asebench.report.sections.main import main_table
from asebench.report.summary import summary_rows
from asebench.store.run_directory import merge_records

RESULTS = Path(__file__).resolve().parents[3] / "results"
RUNS = sorted(path for path in RESULTS.glob("*") if (path / "cells").is_dir())
NO_RESAMPLING = ReportSettings(bootstrap_samples=0)  # the figures compared here do not depend on the bootstrap

pytestmark = pytest.mark.skipif(not RUNS, reason="no committed reference runs under results/")


def _summary_worst(text: str) -> tuple[str, str, str | None]:
    match = re.fullmatch(r"(\S+) \((\d\.\d\d)\)(?: -> (\S+))?", text)
    assert match, text
    return match.group(1), match.group(2), match.group(3)


def _report_worst(text: str) -> tuple[str, str, str | None]:
    match = re.match(r"(\S+) (\d\.\d\d)(?: → ([^;]+))?(;|$)", text)
    assert match, text
    return match.group(1), match.group(2), match.group(3)


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_summary_and_report_agree_on_means_tail_and_worst_class(run: Path) -> None:
    records = merge_records([run])
    groups = group_records(records)
    rows = {(r["dataset"], r["task"], r["method"]): r for r in summary_rows(records) if r["cells"]}
    main = {(r["dataset"], r["task"], r["method"]): r for r in main_table(groups, [], {}, NO_RESAMPLING).data_rows}
    tail = {(r["dataset"], r["task"], r["method"]): r for r in tail_table(groups).data_rows}
    paper = {(r["dataset"], r["task"], r["method"]): r for r in paper_main_table(groups, NO_RESAMPLING).data_rows}
    assert rows and set(rows) <= set(main) and set(rows) <= set(tail) and set(rows) <= set(paper)
    for key, row in rows.items():
        for source in (main[key], paper[key]):
            assert (source["macro_f1_mean"], source["macro_f1_std"]) == (row["macro_f1_mean"], row["macro_f1_std"]), key
        assert paper[key]["tail_f1_mean"] == row["tail_f1_mean"], key
        for bucket in ("head", "medium", "tail"):
            assert tail[key][f"{bucket}_f1_mean"] == row[f"{bucket}_f1_mean"], (key, bucket)
        assert _report_worst(tail[key]["worst_classes"]) == _summary_worst(row["worst_class"]), key
