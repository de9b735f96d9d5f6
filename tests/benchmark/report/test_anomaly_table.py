"""The anomaly table: mean ± std over cells, undefined metrics skipped, random-init rows flagged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from asebench.api.records import PLACEHOLDER_WEIGHTS_NOTE
from asebench.report.anomaly_table import (
    ANOMALY_COLUMNS,
    anomaly_csv,
    anomaly_markdown,
    anomaly_rows,
)


def record(
    method: str, seed: int, metrics: dict[str, Any] | None, status: str = "ok", weights: str = "file"
) -> dict[str, Any]:
    return {
        "cell": {"dataset": "mvtec", "task": "binary", "method": method, "seed": seed, "fold": 0},
        "status": status,
        "method": {"provenance": {"weights": weights}, "placeholder_weights": weights == "random"},
        **({"anomaly_metrics": metrics} if metrics is not None else {}),
    }


def metrics(
    image_auroc: float | None, pixel_pro: float | None = None, notes: list[str] | None = None
) -> dict[str, Any]:
    return {"image_auroc": image_auroc, "image_ap": 0.5, "pixel_pro": pixel_pro, "notes": notes or []}


def test_rows_average_over_seeds_and_ignore_undefined_values() -> None:
    rows = anomaly_rows(
        [
            record("winclip", 0, metrics(0.90, 0.6)),
            record("winclip", 1, metrics(0.80, None, ["test set holds only normal images"])),
            record("majority", 0, None),  # a classifier without anomaly scores: no row
            record("winclip-fewshot", 0, None, status="skipped"),
        ]
    )
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {*ANOMALY_COLUMNS, "placeholder_weights"}
    assert row["cells"] == 2 and row["image_auroc_mean"] == pytest.approx(0.85)
    assert row["image_auroc_std"] == pytest.approx(0.0707107, abs=1e-6)
    assert row["pixel_pro_mean"] == pytest.approx(0.6) and row["pixel_pro_std"] == 0.0
    assert row["pixel_auroc_mean"] is None
    assert row["note"] == "test set holds only normal images" and row["weights"] == "file"


def test_markdown_is_in_percent_and_flags_random_weights() -> None:
    rows = anomaly_rows(
        [record("winclip", 0, metrics(0.9123), weights="random"), record("clip-zeroshot", 0, metrics(0.5))]
    )
    text = anomaly_markdown(rows)
    assert "| dataset | task | method | cells | I-AUROC | I-AP |" in text
    assert "| mvtec | binary | winclip ⚠ | 1 | 91.2 | 50.0 |" in text
    assert "P-AUROC" not in text  # no row has a pixel metric
    assert PLACEHOLDER_WEIGHTS_NOTE in text
    assert anomaly_csv(rows).splitlines()[0] == ",".join(ANOMALY_COLUMNS)
    assert "0.912300" in anomaly_csv(rows)


# -- per-category protocols ----------------------------------------------------------------


def category_record(
    method: str,
    category: str,
    seed: int,
    image_auroc: float | None,
    pixel_pro: float | None,
    protocol: str = "official",
) -> dict[str, Any]:
    base = record(method, seed, {"image_auroc": image_auroc, "pixel_pro": pixel_pro, "notes": []})
    base["split"] = {"protocol": protocol, "category": category}
    if protocol == "transfer":
        base["split"]["source_dataset"] = {"name": "visa", "fit_on": "test", "fingerprint": "f" * 64}
    return base


def test_per_category_rows_and_the_unweighted_mean_match_a_hand_computation() -> None:
    records = [
        category_record("winclip", "bottle", 0, 0.90, 0.60),
        category_record("winclip", "bottle", 1, 0.80, 0.70),
        category_record("winclip", "cable", 0, 0.60, None),  # PRO undefined here
        category_record("winclip", "cable", 1, 0.70, None),
        category_record("winclip", "zipper", 0, 1.00, 0.90),
        category_record("winclip", "zipper", 1, 1.00, 0.80),
        record("winclip", 0, metrics(0.5)),  # a holdout cell of the same method: pooled, not a category
    ]
    rows = anomaly_rows(records)
    pooled = [r for r in rows if r["category"] is None]
    assert len(pooled) == 1 and pooled[0]["protocol"] == "holdout" and pooled[0]["cells"] == 1
    block = [r for r in rows if r["category"] is not None]
    assert [r["category"] for r in block] == ["bottle", "cable", "zipper", "mean"]
    assert [r["protocol"] for r in block] == ["official"] * 4
    bottle, cable, _, mean = block
    assert bottle["image_auroc_mean"] == pytest.approx(0.85) and bottle["cells"] == 2
    assert bottle["image_auroc_std"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    assert cable["pixel_pro_mean"] is None
    # by hand: image AUROC per category .85, .65, 1.0 -> mean 2.5 / 3; every category counts once
    assert mean["image_auroc_mean"] == pytest.approx((0.85 + 0.65 + 1.0) / 3)
    # seed-wise means over categories: seed 0 (.9 + .6 + 1) / 3, seed 1 (.8 + .7 + 1) / 3 -> their std
    assert mean["image_auroc_std"] == pytest.approx(np.std([2.5 / 3, 2.5 / 3], ddof=1))
    # PRO: only bottle (.65) and zipper (.85) have it -> .75, and the note says so
    assert mean["pixel_pro_mean"] == pytest.approx(0.75)
    assert "PRO@30% mean over 2 of 3 categories" in mean["note"]
    assert mean["cells"] == 6


def test_the_mean_is_over_categories_not_over_test_images_or_cells() -> None:
    records = [category_record("m", "a", 0, 1.0, None)] + [category_record("m", "b", s, 0.5, None) for s in range(3)]
    mean = anomaly_rows(records)[-1]
    assert mean["category"] == "mean" and mean["image_auroc_mean"] == pytest.approx(0.75)  # not (1 + 3 * .5) / 4


def test_per_category_markdown_has_one_block_per_method_and_protocol() -> None:
    records = [
        category_record("winclip", "bottle", 0, 0.9123, 0.6),
        category_record("winclip", "cable", 0, 0.7, 0.4),
        category_record("winclip", "bottle", 0, 0.5, 0.5, protocol="transfer"),
    ]
    records[0]["method"]["placeholder_weights"] = True
    text = anomaly_markdown(anomaly_rows(records))
    assert "### winclip ⚠ — mvtec, official, binary" in text
    assert "### winclip — mvtec, transfer from visa (fit on test), binary" in text
    assert "| category | cells | I-AUROC | I-AP | PRO@30% |" not in text  # I-AP is in no record here
    assert "| category | cells | I-AUROC | PRO@30% |" in text
    assert "| bottle | 1 | 91.2 | 60.0 |" in text
    assert "| mean | 2 | 80.6 | 50.0 |" in text  # (91.23 + 70) / 2, (60 + 40) / 2
    csv_rows = anomaly_csv(anomaly_rows(records)).splitlines()
    assert csv_rows[0].startswith("dataset,task,method,protocol,category,cells,")
    assert any(line.startswith("mvtec,binary,winclip,official,mean,2,0.806150,") for line in csv_rows)


def test_the_report_section_puts_per_category_records_in_their_own_table() -> None:
    from asebench.report.aggregate import group_records
    from asebench.report.sections.anomaly import anomaly_category_table, anomaly_table
    from asebench.report.tables import table_csv, to_markdown

    records = [
        category_record("winclip", "bottle", 0, 0.9, 0.6),
        category_record("winclip", "cable", 0, 0.7, 0.4),
        record("clip-zeroshot", 0, metrics(0.5)),
    ]
    groups = group_records(records)  # type: ignore[arg-type]
    pooled = anomaly_table(groups)
    assert pooled is not None and [row[2].text for row in pooled.rows] == ["clip-zeroshot"]
    table = anomaly_category_table(groups)
    assert table is not None and table.key == "anomaly_categories"
    assert [c.name for c in table.columns] == ["category", "cells", "I-AUROC", "PRO@30%"]
    assert [row[0].text for row in table.rows] == ["bottle", "cable", "mean"]
    assert table.rows[2][2].text == "0.800" and table.rows[2][3].text == "0.500"
    assert table.sections == {0: "winclip — mvtec, official, binary"}
    assert "**winclip — mvtec, official, binary**" in to_markdown(table)
    assert table_csv(table).splitlines()[-1].startswith("mvtec,binary,winclip,official,mean,2,0.800000,")
    assert anomaly_category_table(group_records([records[2]])) is None  # type: ignore[list-item]
