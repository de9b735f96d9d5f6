"""The report's multiple-comparison statistics on synthetic records: Holm, DeLong, Friedman/Nemenyi, the CD diagram.

Records are built here (no model runs): binary cells of several methods on several datasets, and
anomaly cells with stored per-image scores under a per-category protocol.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from asebench.api.data import Task
from asebench.api.records import CellRecord
from asebench.report.aggregate import ReportSettings, group_records
from asebench.report.comparisons import compare, compare_anomaly
from asebench.report.sections.ranking import rank_methods, ranking_table
from asebench.report.sections.significance import anomaly_significance_table, significance_table
from asebench.report.tables import DAGGER, table_csv, to_markdown
from asebench.report.writer import write_report
from asebench.scoring.cell import score_cell
from asebench.scoring.delong import combine_cells, delong_test
from asebench.scoring.statistics import holm
from asebench.scoring.tail import TailConfig

CLASSES = ("normal", "defect")
SETTINGS = ReportSettings(bootstrap_samples=200)


def cell(
    method: str,
    dataset: str,
    truth: np.ndarray,
    pred: np.ndarray,
    seed: int = 0,
    fold: int = 0,
    scores: np.ndarray | None = None,
    category: str | None = None,
    ids: list[str] | None = None,
) -> CellRecord:
    """One ok binary cell; with ``scores``, stored anomaly scores and the image AUROC the runner would compute."""
    metrics, tail = score_cell(truth.tolist(), pred.tolist(), CLASSES, Task.BINARY, [50, 50], TailConfig(), 0, seed)
    split: dict[str, Any] = {
        "seed": seed,
        "fold": fold,
        "digest": f"{dataset}-{seed}-{fold}",
        "test_counts": [1, 1],
        "train_counts": [50, 50],
    }
    if category is not None:
        split.update(protocol="official", category=category)
    record: dict[str, Any] = {
        "schema_version": 1,
        "cell": {"method": method, "dataset": dataset, "task": "binary", "seed": seed, "fold": fold},
        "status": "ok",
        "method": {"name": method, "family": "toy", "options": {}, "capabilities": []},
        "dataset": {"name": dataset, "fingerprint": dataset, "class_names": list(CLASSES), "normal_class": "normal"},
        "split": split,
        "metrics": metrics,
        "tail": tail,
        "predictions": {
            "ids": ids or [f"{category or dataset}-{i}" for i in range(len(truth))],
            "y_true": truth.tolist(),
            "y_pred": pred.tolist(),
        },
        "created_at": "2024-01-01T00:00:00+00:00",
    }
    if scores is not None:
        record["predictions"]["anomaly_scores"] = scores.tolist()
        record["anomaly_metrics"] = {"image_auroc": float(roc_auc_score(truth, scores))}
    return record  # type: ignore[return-value]


def classifier_records(datasets: int = 4, methods: int = 4) -> list[CellRecord]:
    """``methods`` classifiers of increasing quality on ``datasets`` datasets (one seed)."""
    out = []
    for d in range(datasets):
        rng = np.random.default_rng(d)
        truth = rng.integers(0, 2, 80)
        for m in range(methods):
            pred = np.where(rng.random(80) < 0.55 + 0.1 * m, truth, 1 - truth)
            out.append(cell(f"m{m}", f"data{d}", truth, pred))
    return out


def detector_records() -> list[CellRecord]:
    """Three detectors on two categories (official protocol); det-b's records store their images in another order."""
    out = []
    for c, category in enumerate(("grid", "washer")):
        rng = np.random.default_rng(10 + c)
        truth = np.array([0] * 12 + [1] * 18)
        for name, strength in (("det-a", 2.0), ("det-b", 1.0), ("det-c", 0.2)):
            scores = rng.normal(size=30) + strength * truth
            pred = (scores > 0.5).astype(int)
            ids = [f"{category}-{i}" for i in range(30)]
            if name == "det-b":  # same images, stored in reverse order: pairing goes by id
                scores, pred, ids, t = scores[::-1], pred[::-1], ids[::-1], truth[::-1]
            else:
                t = truth
            out.append(cell(name, "anomaly-synth", t, pred, fold=c, scores=scores, category=category, ids=ids))
    return out


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_significance_marks_use_holm_and_the_csv_keeps_the_raw_p_values() -> None:
    comparisons = compare(group_records(classifier_records(datasets=2, methods=5)), SETTINGS)
    tested = [c for c in comparisons if c.bootstrap is not None]
    assert len(tested) == 8  # 4 per dataset against its best method, one family over both datasets
    expected = holm([c.bootstrap.p_value for c in tested if c.bootstrap])
    assert [c.p_bootstrap_holm for c in tested] == pytest.approx(expected)
    assert all(c.significant(0.05) == ((c.p_bootstrap_holm or 1.0) < 0.05) for c in tested)
    table = significance_table(comparisons, SETTINGS)
    rows = [r for r in csv_rows(table_csv(table)) if r["p_bootstrap"]]
    assert all(float(r["p_bootstrap_holm"]) >= float(r["p_bootstrap"]) for r in rows)
    assert all(r["significant"] == str(float(r["p_bootstrap_holm"]) < 0.05).lower() for r in rows)
    assert "Holm-corrected" in table.caption and "8 comparisons" in table.caption


def test_a_difference_that_holm_no_longer_calls_significant_gets_the_dagger() -> None:
    comparisons = compare(group_records(classifier_records(datasets=3, methods=5)), SETTINGS)
    flipped = [c for c in comparisons if c.bootstrap and c.bootstrap.p_value < 0.05 <= (c.p_bootstrap_holm or 0)]
    assert flipped, "the fixture should have a raw-significant comparison that Holm rejects"
    markdown = to_markdown(significance_table(comparisons, SETTINGS))
    line = next(x for x in markdown.splitlines() if f"| {flipped[0].method} |" in x and flipped[0].dataset in x)
    assert DAGGER in line


def test_delong_table_pairs_by_image_id_and_matches_a_direct_computation() -> None:
    records = detector_records()
    comparisons = compare_anomaly(group_records(records), ReportSettings(reference="det-a"))
    by_method = {c.method: c for c in comparisons}
    assert by_method["det-a"].is_reference and by_method["det-b"].pairs == 2
    tests = []
    for category in ("grid", "washer"):
        a, b = (
            next(r for r in records if r["cell"]["method"] == m and r["split"]["category"] == category)
            for m in ("det-b", "det-a")
        )
        order = [b["predictions"]["ids"].index(i) for i in a["predictions"]["ids"]]
        scores_b = np.asarray(b["predictions"]["anomaly_scores"])[order]
        tests.append(
            delong_test(np.asarray(a["predictions"]["y_true"]) == 1, a["predictions"]["anomaly_scores"], scores_b)
        )
        assert tests[-1].auc_a == pytest.approx(a["anomaly_metrics"]["image_auroc"])  # sklearn's AUROC
    expected = combine_cells(tests, disjoint=True)  # categories: disjoint test sets
    got = by_method["det-b"].test
    assert got is not None and got.combination == "independent test sets"
    assert got.p_value == pytest.approx(expected.p_value) and got.delta == pytest.approx(expected.delta)
    assert [c.p_holm for c in comparisons] == pytest.approx(
        holm([c.test.p_value if c.test else None for c in comparisons])
    )
    table = anomaly_significance_table(comparisons, SETTINGS)
    assert table is not None
    rows = {r["method"]: r for r in csv_rows(table_csv(table))}
    assert float(rows["det-b"]["p_delong"]) == pytest.approx(expected.p_value, abs=1e-6)
    assert rows["det-b"]["protocol"] == "official" and rows["det-a"]["note"] == "reference"
    assert "DeLong" in table.title


def test_delong_reference_falls_back_to_the_best_detector_and_ignores_classifiers() -> None:
    records = detector_records() + classifier_records(datasets=1, methods=2)
    comparisons = compare_anomaly(group_records(records), ReportSettings(reference="m1"))
    assert {c.reference for c in comparisons} == {"det-a"} and {c.method for c in comparisons} == {
        "det-a",
        "det-b",
        "det-c",
    }
    assert any("has no anomaly scores here" in n for c in comparisons for n in c.notes)
    assert compare_anomaly(group_records(classifier_records()), SETTINGS) == []
    assert anomaly_significance_table([], SETTINGS) is None


def test_friedman_ranking_matches_scipy_and_leaves_out_incomplete_methods() -> None:
    records = classifier_records(datasets=5, methods=4)
    records += [cell("partial", "data0", np.array([0, 1]), np.array([0, 1]))]
    ranking = rank_methods(group_records(records), "classification")
    assert ranking.methods[0] == "m3" and len(ranking.blocks) == 5
    assert ranking.left_out == ["partial: no macro-F1 in 4 of 5 blocks"]
    matrix = np.array(
        [
            [
                next(
                    r["metrics"]["macro_f1"]
                    for r in records
                    if r["cell"]["method"] == m and r["cell"]["dataset"] == f"data{d}"
                )
                for m in ("m0", "m1", "m2", "m3")
            ]
            for d in range(5)
        ]
    )
    assert ranking.test is not None
    assert ranking.test.statistic == pytest.approx(stats.friedmanchisquare(*matrix.T).statistic)
    assert ranking.cd == pytest.approx(2.569 * np.sqrt(4 * 5 / (6 * 5)), abs=0.002)
    table = ranking_table([ranking])
    assert any("left out partial" in n for n in table.notes) and any("Friedman chi2" in n for n in table.notes)
    rows = csv_rows(table_csv(table))
    assert [r["method"] for r in rows] == ranking.methods and float(rows[0]["average_rank"]) == ranking.ranks[0]


def test_anomaly_ranking_uses_image_auroc_per_category() -> None:
    ranking = rank_methods(group_records(detector_records()), "anomaly")
    assert ranking.blocks == [
        ("anomaly-synth", "binary", "official", "grid"),
        ("anomaly-synth", "binary", "official", "washer"),
    ]
    assert ranking.methods[0] == "det-a" and ranking.metric == "image AUROC"


def test_too_few_blocks_or_methods_say_so() -> None:
    ranking = rank_methods(group_records(classifier_records(datasets=1)), "classification")
    assert ranking.test is None and "needs at least 2" in ranking.message
    table = ranking_table([ranking])
    assert any("no ranking test" in n for n in table.notes) and len(table.rows) == 4


def _pixels(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return np.asarray(imread(path))


def test_report_writes_the_tables_and_embeds_the_cd_diagram(tmp_path: Path) -> None:
    records = classifier_records(datasets=4, methods=4) + detector_records()
    output = write_report(records, [tmp_path], tmp_path, SETTINGS, formats=("md", "csv", "tex", "html"))
    folder = output.folder
    for key in ("ranking", "anomaly_significance", "significance"):
        assert all((folder / f"{key}.{fmt}").is_file() for fmt in ("md", "csv", "tex"))
    png = folder / "figures" / "cd_diagram.png"
    assert png.is_file() and (folder / "figures" / "cd_diagram.pdf").is_file()
    pixels = _pixels(png)
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.05  # drawn, not blank
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert 'id="figure-cd_diagram"' in page and "data:image/png;base64," in page
    assert 'id="table-ranking"' in page and 'id="table-anomaly_significance"' in page
    assert "figures/cd_diagram.png" in (folder / "report.md").read_text(encoding="utf-8")


def test_records_written_before_these_statistics_still_build_a_report(tmp_path: Path) -> None:
    """Old records: no normal_class, no protocol, no anomaly scores, one dataset."""
    records = classifier_records(datasets=1, methods=3)
    for record in records:
        del record["dataset"]["normal_class"]  # type: ignore[misc]
    output = write_report(records, [tmp_path], tmp_path, SETTINGS, formats=("md", "csv", "html"))
    assert not (output.folder / "anomaly_significance.md").exists()
    ranking = (output.folder / "ranking.md").read_text(encoding="utf-8")
    assert "no ranking test" in ranking
    assert not (output.folder / "figures" / "cd_diagram.png").exists()
    assert "p_bootstrap_holm" in (output.folder / "significance.csv").read_text(encoding="utf-8")
