"""Scoring the committed reference runs' stored predictions again gives their stored numbers, to the last bit."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.scoring.bootstrap import bootstrap_macro_f1
from asebench.scoring.classification import macro_f1

RESULTS = Path(__file__).resolve().parents[3] / "results"
# every record of the small reference run, and a handful of the paper-model runs (30 seeds each)
PATHS = sorted((RESULTS / "ase-synth-reference" / "cells").glob("*.json")) + [
    path
    for run in ("ase-synth-paper-model", "ase-synth-x2-paper-model")
    for path in sorted((RESULTS / run / "cells").glob("*.json"))[::20]
]

pytestmark = pytest.mark.skipif(not PATHS, reason="no committed reference runs under results/")


def ok_record(path: Path) -> dict[str, Any]:
    record = json.loads(path.read_text(encoding="utf-8"))
    if record["status"] != "ok":
        pytest.skip(f"{path.name} holds no predictions ({record['status']})")
    return record


@pytest.mark.parametrize("path", PATHS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_macro_f1_of_the_stored_predictions_is_the_stored_headline(path: Path) -> None:
    record = ok_record(path)
    predictions = record["predictions"]
    k = len(record["dataset"]["class_names"])
    assert (
        macro_f1(np.asarray(predictions["y_true"]), np.asarray(predictions["y_pred"]), k)
        == record["metrics"]["macro_f1"]
    )


@pytest.mark.parametrize("path", PATHS[::4], ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_the_bootstrap_of_the_stored_predictions_is_the_stored_interval(path: Path) -> None:
    record = ok_record(path)
    predictions, stored = record["predictions"], record["metrics"]["bootstrap"]
    k = len(record["dataset"]["class_names"])
    interval = bootstrap_macro_f1(
        predictions["y_true"], predictions["y_pred"], k, stored["samples"], stored["confidence"], stored["seed"]
    )
    assert asdict(interval) == stored
