"""The anomaly table: mean ± std over cells, undefined metrics skipped, random-init rows flagged."""

from __future__ import annotations

from typing import Any

import pytest

from asebench.report.anomaly_table import (
    ANOMALY_COLUMNS,
    RANDOM_WEIGHTS_NOTE,
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
    assert RANDOM_WEIGHTS_NOTE in text
    assert anomaly_csv(rows).splitlines()[0] == ",".join(ANOMALY_COLUMNS)
    assert "0.912300" in anomaly_csv(rows)
