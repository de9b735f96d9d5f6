"""Records written before ``method.proposed`` and ``method.placeholder_weights`` get them at load time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asebench.store.run_directory import load_record, upgrade_record


def record(method: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1, "cell": {"method": "m"}, "status": "ok", "method": method}


@pytest.mark.parametrize(
    ("family", "weights", "proposed", "placeholder"),
    [("paper", "package", True, False), ("Ours", None, True, False), ("vision", "random", False, True), ("paper-like", "randomish", False, False)],
)
def test_old_records_get_the_fields_from_family_and_weights(family, weights, proposed, placeholder, tmp_path: Path) -> None:
    path = tmp_path / "cell.json"
    path.write_text(json.dumps(record({"family": family, "provenance": {"weights": weights} if weights else {}})))
    method = load_record(path)["method"]
    assert (method["proposed"], method["placeholder_weights"]) == (proposed, placeholder)


def test_declared_fields_are_kept() -> None:
    method = upgrade_record(record({"family": "paper", "proposed": False, "placeholder_weights": True}))["method"]  # type: ignore[arg-type]
    assert (method["proposed"], method["placeholder_weights"]) == (False, True)


def test_records_without_a_method_block_pass_through() -> None:
    assert upgrade_record({"status": "failed"}) == {"status": "failed"}  # type: ignore[typeddict-item]
