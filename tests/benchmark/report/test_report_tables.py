"""Report tables: emphasis rules, Markdown/CSV/LaTeX rendering, and tables built from synthetic records."""

from __future__ import annotations

import csv
import io
import math
import re
from typing import Any

import numpy as np
import pytest

from asebench.api.data import Task
from asebench.api.records import CellRecord
from asebench.report.aggregate import ReportSettings, group_records, per_class, pooled_interval
from asebench.report.comparisons import compare, pair_cells
from asebench.report.sections.ablation import ablation_table
from asebench.report.sections.anomaly import anomaly_table
from asebench.report.sections.classes import per_class_table, tail_table
from asebench.report.sections.main import main_table
from asebench.report.sections.significance import significance_table
from asebench.report.tables import (
    DAGGER,
    Cell,
    Column,
    Table,
    emphasis,
    interval,
    latex_escape,
    markdown_table,
    mean_std,
    p_value,
    table_csv,
    to_latex,
    to_markdown,
)
from asebench.scoring.cell import score_cell
from asebench.scoring.tail import TailConfig

CLASSES = ("normal", "type1", "type2", "type3")
TRAIN_COUNTS = [40, 18, 8, 6]  # head, medium, tail, tail


def toy_table() -> Table:
    table = Table(
        key="demo",
        title="Demo 100% table",
        columns=[Column("method"), Column("score", "r", "max"), Column("loss", "r", "min"), Column("note")],
        caption="Best in bold.",
        data_columns=["method", "score"],
    )
    table.add_row([Cell("a_1"), Cell("0.900 ± 0.010", 0.9), Cell("1.5", 1.5), Cell("x|y")], group="d1")
    table.add_row([Cell("b"), Cell("0.800 ± 0.020", 0.8, DAGGER), Cell("1.0", 1.0), Cell("")], group="d1")
    table.add_row([Cell("c"), Cell("0.700 ± 0.000", 0.7), Cell("2.0", 2.0), Cell("")], group="d1")
    table.add_row([Cell("a_1"), Cell("0.500 ± 0.000", 0.5), Cell("–"), Cell("")], group="d2")
    table.add_row([Cell("b"), Cell("0.600 ± 0.000", 0.6), Cell("–"), Cell("")], group="d2")
    table.data_rows = [{"method": "a_1", "score": 0.9}, {"method": "b", "score": None}]
    return table


# -- formatting and emphasis -----------------------------------------------------------------


def test_number_formatting() -> None:
    assert mean_std(0.81234, 0.0216) == "0.812 ± 0.022"
    assert mean_std(None, None) == "–"
    assert interval(0.78123, 0.84) == "[0.781, 0.840]"
    assert interval(None, 0.5) == "–"
    assert p_value(0.0004) == "<0.001" and p_value(0.0312) == "0.031" and p_value(None) == "n/a"


def test_best_bold_second_underlined_per_column_and_group() -> None:
    marks = emphasis(toy_table())
    assert [row[1] for row in marks] == ["best", "second", "", "", "best"]  # score: max wins, per group
    assert [row[2] for row in marks] == ["second", "best", "", "", ""]  # loss: min wins; "–" is not ranked
    assert all(row[0] == "" and row[3] == "" for row in marks)


def test_ties_and_lone_rows_are_not_emphasised() -> None:
    table = Table(key="t", title="t", columns=[Column("m"), Column("s", "r", "max")])
    for name in "abc":
        table.add_row([Cell(name), Cell("0.5", 0.5)])
    assert emphasis(table) == [["", ""]] * 3
    table.add_row([Cell("d"), Cell("0.9", 0.9)])
    assert [row[1] for row in emphasis(table)] == ["", "", "", "best"]  # the rest tie: no "second"
    lone = Table(key="l", title="l", columns=[Column("s", "r", "max")])
    lone.add_row([Cell("0.9", 0.9)])
    assert emphasis(lone) == [[""]]


def test_rows_must_match_the_columns() -> None:
    with pytest.raises(ValueError):
        toy_table().add_row([Cell("only one")])


# -- renderers -------------------------------------------------------------------------------


def test_latex_is_a_booktabs_table_with_bold_best_and_underlined_second() -> None:
    tex = to_latex(toy_table())
    lines = tex.splitlines()
    assert lines[1] == "\\begin{table}[htbp]" and lines[-1] == "\\end{table}"
    assert "\\begin{tabular}{lrrl}" in tex
    order = [tex.index(token) for token in ("\\toprule", "\\midrule", "\\bottomrule", "\\end{tabular}")]
    assert order == sorted(order)
    assert tex.count("\\midrule") == 2  # under the header, and between the two groups
    assert "\\textbf{0.900 $\\pm$ 0.010}" in tex
    assert "\\underline{0.800 $\\pm$ 0.020}$^{\\dagger}$" in tex  # the mark follows the emphasis
    assert "\\textbf{0.600 $\\pm$ 0.000}" in tex
    assert "a\\_1" in tex and "x|y" in tex and "Demo 100\\% table" in tex
    assert "\\label{tab:asebench-demo}" in tex
    assert "\\hline" not in tex  # booktabs rules only
    body = [line for line in lines if line.strip().endswith("\\\\")]
    assert all(line.count("&") == 3 for line in body)


def test_latex_escaping_of_special_characters() -> None:
    assert latex_escape("a_b & 50% #1 {x} ~ ^") == "a\\_b \\& 50\\% \\#1 \\{x\\} \\textasciitilde{} \\textasciicircum{}"
    assert latex_escape("x → y, ±, †, <0.001, −1") == "x $\\rightarrow$ y, $\\pm$, $^{\\dagger}$, $<$0.001, $-$1"


def test_latex_sections_span_all_columns() -> None:
    table = Table(key="s", title="s", columns=[Column("m"), Column("v", "r", "max")])
    table.section("Baselines")
    table.add_row([Cell("a"), Cell("0.1", 0.1)])
    table.section("Ours")
    table.add_row([Cell("b"), Cell("0.2", 0.2)])
    tex = to_latex(table)
    assert "\\multicolumn{2}{l}{\\textit{Baselines}} \\\\" in tex
    assert (
        tex.index("\\textit{Baselines}")
        < tex.index("a & 0.1")
        < tex.index("\\textit{Ours}")
        < tex.index("\\textbf{0.2}")
    )
    assert "| **Baselines** |  |" in markdown_table(table)


def test_markdown_table_content() -> None:
    md = to_markdown(toy_table())
    assert md.startswith("### Demo 100% table\n\nBest in bold.\n")
    lines = markdown_table(toy_table()).splitlines()
    assert lines[0] == "| method | score | loss | note |"
    assert lines[1] == "|---|---:|---:|---|"
    assert lines[2] == "| a_1 | **0.900 ± 0.010** | *1.5* | x\\|y |"
    assert lines[3] == f"| b | *0.800 ± 0.020*{DAGGER} | **1.0** |  |"
    assert len(lines) == 2 + 5


def test_csv_holds_raw_numbers() -> None:
    rows = list(csv.DictReader(io.StringIO(table_csv(toy_table()))))
    assert rows == [{"method": "a_1", "score": "0.900000"}, {"method": "b", "score": ""}]


# -- tables from synthetic records -------------------------------------------------------------


def make_record(
    method: str,
    seed: int,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    family: str = "toy",
    proposed: bool = False,
    **extra: Any,
) -> CellRecord:
    metrics, tail = score_cell(
        y_true.tolist(), y_pred.tolist(), CLASSES, Task.MULTICLASS, TRAIN_COUNTS, TailConfig(), 0, seed
    )
    record: dict[str, Any] = {
        "schema_version": 1,
        "cell": {
            "method": method,
            "dataset": "toyset",
            "task": "multiclass",
            "seed": seed,
            "fold": 0,
            "config_hash": "h",
        },
        "status": "ok",
        "method": {
            "name": method,
            "family": family,
            "options": extra.pop("options", {}),
            "capabilities": [],
            "proposed": proposed,
        },
        "dataset": {"name": "toyset", "fingerprint": "fp", "class_names": list(CLASSES)},
        "split": {
            "seed": seed,
            "fold": 0,
            "digest": f"split{seed}",
            "train_counts": TRAIN_COUNTS,
            "test_counts": np.bincount(y_true, minlength=len(CLASSES)).tolist(),
        },
        "metrics": metrics,
        "tail": tail,
        "predictions": {
            "ids": [f"img{i}" for i in range(len(y_true))],
            "y_true": y_true.tolist(),
            "y_pred": y_pred.tolist(),
        },
        "created_at": "2024-01-01T00:00:00+00:00",
    }
    record.update(extra)
    return record  # type: ignore[return-value]


@pytest.fixture(scope="module")
def records() -> list[CellRecord]:
    """Three methods x two seeds: 'good' (90% right), 'close' (like good, a few flips), 'bad' (always normal)."""
    out = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        truth = np.repeat(np.arange(4), [30, 14, 8, 8])
        good = np.where(rng.random(len(truth)) < 0.9, truth, (truth + 1) % 4)
        close = good.copy()
        close[rng.choice(len(truth), 2, replace=False)] = 0
        out += [
            make_record(
                "good",
                seed,
                truth,
                good,
                anomaly_metrics={
                    "image_auroc": 0.9 + seed / 100,
                    "pro": 0.7,
                    "image_f1_max_threshold": 0.3,
                    "pixel_ap": None,
                    "notes": ["no masks: pixel metrics undefined"],
                    "extra_score": 0.5,
                },
            ),
            make_record("close", seed, truth, close, family="paper", proposed=True, options={"depth": 2, "lr": 0.1}),
            make_record("bad", seed, truth, np.zeros_like(truth)),
            make_record(
                "close-small", seed, truth, good, family="paper", proposed=True, options={"depth": 1, "lr": 0.1}
            ),
        ]
    return out


SETTINGS = ReportSettings(bootstrap_samples=300)


def test_main_table_marks_methods_not_significantly_worse_than_the_reference(records: list[CellRecord]) -> None:
    groups = group_records(records)
    comparisons = compare(groups, SETTINGS)
    intervals = {(g.dataset, g.task, g.method): pooled_interval(g, SETTINGS) for g in groups}
    table = main_table(groups, comparisons, intervals, SETTINGS)
    rows = {row[1].text: row for row in table.rows}
    assert [row[1].text for row in table.rows] == ["bad", "close", "close-small", "good"]
    assert {c.reference for c in comparisons} == {"close-small"}  # ties with good at the top: first by name
    assert rows["close"][4].mark == DAGGER  # two flipped samples: not significant
    assert rows["bad"][4].mark == ""  # clearly worse: significant, no dagger
    assert rows["close-small"][4].mark == "" and rows["good"][4].mark == DAGGER
    assert re.fullmatch(r"\[\d\.\d{3}, \d\.\d{3}\]", rows["good"][5].text)
    assert "Reference: toyset multiclass: close-small." in table.caption
    md = to_markdown(table)
    assert f"{DAGGER} |" in md and "**" in md
    data = {(r["method"]): r for r in table.data_rows}
    assert data["bad"]["significant"] == "true" and data["close"]["significant"] == "false"
    assert data["good"]["ci_low"] <= data["good"]["macro_f1_mean"] <= data["good"]["ci_high"]


def test_significance_table_reports_all_three_tests(records: list[CellRecord]) -> None:
    groups = group_records(records)
    table = significance_table(compare(groups, ReportSettings(bootstrap_samples=300, reference="good")), SETTINGS)
    rows = {row[2].text: row for row in table.rows}
    assert rows["good"][3].text == "(reference)"
    bad = table.data_rows[[r["method"] for r in table.data_rows].index("bad")]
    assert bad["paired_cells"] == 2 and bad["delta"] < -0.5 and bad["p_bootstrap"] < 0.01
    assert bad["mcnemar_test"] == "chi2" and bad["p_mcnemar"] < 0.001
    assert bad["seed_n"] == 2 and bad["p_seeds"] is not None
    assert bad["seed_test"].startswith("corrected resampled t-test")  # the default: seeds resample one dataset
    assert rows["bad"][5].text.startswith("−")  # typographic minus in the display


def test_corrected_seed_test_uses_the_recorded_split_sizes(records: list[CellRecord]) -> None:
    groups = group_records(records)
    corrected = {c.method: c for c in compare(groups, ReportSettings(bootstrap_samples=0, reference="good"))}
    plain = {
        c.method: c for c in compare(groups, ReportSettings(bootstrap_samples=0, reference="good", seed_test="ttest"))
    }
    close, close_plain = corrected["close"].seeds, plain["close"].seeds
    assert close is not None and close_plain is not None and close.statistic and close_plain.statistic
    ratio = 60 / sum(TRAIN_COUNTS)  # 60 test samples per toy split
    expected = close_plain.statistic * math.sqrt((1 / 2) / (1 / 2 + ratio))
    assert close.statistic == pytest.approx(expected)
    unrecorded = [{**r, "split": {k: v for k, v in r["split"].items() if k != "test_counts"}} for r in records]
    missing = {
        c.method: c for c in compare(group_records(unrecorded), ReportSettings(bootstrap_samples=0, reference="good"))
    }
    assert missing["close"].seeds is not None and missing["close"].seeds.p_value is None
    assert "test/train sizes" in missing["close"].seeds.note


def test_pairing_requires_same_split_and_aligns_by_id(records: list[CellRecord]) -> None:
    groups = {g.method: g for g in group_records(records)}
    shuffled = [dict(r) for r in groups["close"].ok]
    first = shuffled[0]
    order = np.random.default_rng(0).permutation(len(first["predictions"]["ids"]))
    first["predictions"] = {k: [first["predictions"][k][i] for i in order] for k in ("ids", "y_true", "y_pred")}
    shuffled[1] = {**shuffled[1], "split": {**shuffled[1]["split"], "digest": "other"}}
    groups["close"].ok = shuffled  # type: ignore[assignment]
    pairs, notes = pair_cells(groups["close"], groups["good"])
    assert len(pairs) == 1 and len(notes) == 1 and "seed 1" in notes[0]
    assert np.array_equal(pairs[0].y_true, np.asarray(first["predictions"]["y_true"]))
    original = groups["good"].ok[0]["predictions"]
    assert pairs[0].pred_reference.tolist() == [original["y_pred"][i] for i in order]


def test_per_class_and_tail_tables(records: list[CellRecord]) -> None:
    groups = group_records(records)
    table = per_class_table(groups)
    classes = list(dict.fromkeys(row[2].text for row in table.rows))
    assert classes == ["normal", "type1", "type2", "type3"]  # training frequency, descending
    assert [row[3].text for row in table.rows[::4]] == ["head", "medium", "tail", "tail"]
    good = next(g for g in groups if g.method == "good")
    assert [c.name for c in per_class(good)] == classes
    tail = tail_table(groups)
    bad = next(row for row in tail.rows if row[2].text == "bad")
    assert bad[5].text == "0.000 ± 0.000" and "→ normal" in bad[6].text
    assert any("tail = type2, type3" in note for note in tail.notes)


def test_anomaly_and_ablation_tables_only_when_records_have_them(records: list[CellRecord]) -> None:
    groups = group_records(records)
    anomaly = anomaly_table(groups)
    assert anomaly is not None
    # numeric metrics only (no threshold, no notes; a metric that is None everywhere is left out), known ones first
    assert [c.name for c in anomaly.columns] == ["dataset", "task", "method", "cells", "I-AUROC", "PRO", "extra_score"]
    assert [c.rank for c in anomaly.columns[4:]] == ["max", "max", None]
    assert [row[2].text for row in anomaly.rows] == ["good"]
    assert anomaly.rows[0][4].text == "0.905 ± 0.007"
    assert anomaly.notes == ["good on toyset multiclass: no masks: pixel metrics undefined"]
    ablation = ablation_table(groups)
    assert ablation is not None
    assert [c.name for c in ablation.columns] == [
        "dataset",
        "variant",
        "depth",
        "multiclass macro-F1",
        "multiclass tail-F1",
    ]
    assert [(row[1].text, row[2].text) for row in ablation.rows] == [("close", "2"), ("close-small", "1")]
    plain = group_records([r for r in records if r["cell"]["method"] == "bad"])
    assert anomaly_table(plain) is None and ablation_table(plain) is None


def test_long_tables_become_longtables_that_break_across_pages() -> None:
    table = Table(key="long", title="Long", columns=[Column("m"), Column("v", "r", "max")], notes=["a note"])
    for i in range(40):
        table.add_row([Cell(f"m{i}"), Cell(f"{i / 40:.3f}", i / 40)])
    tex = to_latex(table)
    assert "\\usepackage{longtable}" in tex.splitlines()[0]
    assert "\\begin{longtable}{lr}" in tex and "\\end{longtable}" in tex and "\\begin{table}" not in tex
    assert tex.index("\\endfirsthead") < tex.index("\\endhead") < tex.index("\\endfoot") < tex.index("m0 &")
    assert tex.count("\\toprule") == 2 and tex.count("\\bottomrule") == 1  # header repeats on each page
    assert "\\caption{Long}\\label{tab:asebench-long} \\\\" in tex
    assert "\\textbf{0.975}" in tex and "{\\footnotesize a note\\par}" in tex
