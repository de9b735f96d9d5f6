"""The runner's efficiency block: present for every ok cell, exact counts where they are known, off with the switch.

Behaviour only: which fields exist and what they count, never how long anything took.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asebench.api.plugins import load_plugin
from asebench.cli.run_command import run_and_summarise
from asebench.run.config import RunConfig, build_config
from asebench.run.efficiency.passes import MAX_BATCH
from asebench.store.run_directory import load_record

pytestmark = pytest.mark.usefixtures("isolated_methods")

PLUGIN = str(Path(__file__).resolve().parents[2] / "fixtures" / "efficiency_methods.py")
INPUTS = 3 * 8 * 8


def records(config: RunConfig) -> dict[tuple[str, str], dict[str, Any]]:
    assert load_plugin(PLUGIN) is None
    run_and_summarise(config)
    found = [load_record(path) for path in sorted((config.run_dir / "cells").glob("*.json"))]
    return {(r["cell"]["method"], r["cell"]["task"]): r for r in found}


def make_config(root: Path, tmp_path: Path, **overrides: Any) -> RunConfig:
    values: dict[str, Any] = {
        "methods": ["toy-torch-linear", "majority", "toy-fails-on-one-image"],
        "datasets": ["folder"],
        "dataset_options": {"folder": {"root": str(root)}},
        "device": "cpu",
        "run_dir": tmp_path / "run",
        "bootstrap": {"samples": 0},
        "plugins": [PLUGIN],
        **overrides,
    }
    return build_config(values)


@pytest.fixture()
def efficiency_run(tiny_folder_dataset: Callable[..., Path], tmp_path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return records(make_config(tiny_folder_dataset(), tmp_path))


def test_every_ok_cell_has_the_block_with_latency_at_batch_one_and_at_the_methods_batch(
    efficiency_run: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for (method, _), record in efficiency_run.items():
        assert record["status"] == "ok", record.get("error")
        block = record["efficiency"]
        assert block["device"] == "cpu" and block["warm_cache"] is True
        assert block["training_s"] == record["timings"]["fit_s"]
        assert block["memory"]["peak_rss_mb"] > 0 and block["memory"]["cuda_max_allocated_mb"] is None
        assert "efficiency_s" in record["timings"]
        if method == "toy-fails-on-one-image":
            continue
        test_size = len(record["predictions"]["ids"])
        batch_1, batch = block["latency"]["batch_1"], block["latency"]["batch"]
        assert batch_1["batch"] == 1 and 1 <= batch_1["repeats"] <= 5
        assert batch_1["median_ms"] > 0 and batch_1["p90_ms"] >= batch_1["median_ms"]
        expected = min(4 if method == "toy-torch-linear" else 8, MAX_BATCH, test_size)
        assert batch["batch"] == expected and block["cold_cache"]["batch"] == expected


def test_a_torch_method_reports_exact_parameters_flops_and_threads(
    efficiency_run: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for task, classes in (("binary", 2), ("multiclass", 3)):
        block = efficiency_run[("toy-torch-linear", task)]["efficiency"]
        assert block["batch_source"] == "option batch_size"
        assert block["parameters"]["total"] == INPUTS * classes + classes
        assert block["parameters"]["trainable"] == INPUTS * classes + classes
        assert block["flops_per_image"] == 2 * INPUTS * classes  # one (1 x 192) @ (192 x K) product
        assert isinstance(block["torch_threads"], int) and block["torch_threads"] >= 1


def test_the_cold_pass_misses_the_cache_and_the_warm_passes_do_not(
    efficiency_run: dict[tuple[str, str], dict[str, Any]],
) -> None:
    record = efficiency_run[("toy-torch-linear", "binary")]
    block = record["efficiency"]
    assert block["cold_cache"]["cache_misses"] == block["cold_cache"]["batch"]  # every image recomputed
    # the cell's own count (train + val + test, each computed once) is what the provenance says: warm passes add nothing
    assert block["cache_misses_in_cell"] == record["method"]["provenance"]["features_computed"]


def test_methods_without_modules_or_torch_say_what_is_not_reported(
    efficiency_run: dict[tuple[str, str], dict[str, Any]],
) -> None:
    block = efficiency_run[("majority", "binary")]["efficiency"]
    assert block["parameters"]["total"] is None and "not reported" in block["parameters"]["note"]
    assert block["flops_per_image"] is None and block["flops_note"].startswith("not counted")
    assert block["batch_source"].startswith("default")


def test_a_failing_extra_pass_is_noted_and_the_cell_stays_ok(
    efficiency_run: dict[tuple[str, str], dict[str, Any]],
) -> None:
    record = efficiency_run[("toy-fails-on-one-image", "binary")]
    assert record["status"] == "ok"
    block = record["efficiency"]
    assert block["latency"]["batch_1"] is None and block["latency"]["batch"]["batch"] >= 2
    assert any(note.startswith("batch-1 pass failed: RuntimeError") for note in block["notes"])


def test_efficiency_false_skips_the_passes(tiny_folder_dataset: Callable[..., Path], tmp_path: Path) -> None:
    config = make_config(tiny_folder_dataset(), tmp_path, methods=["toy-torch-linear"], efficiency=False)
    for record in records(config).values():
        assert record["status"] == "ok" and "efficiency" not in record
        assert "efficiency_s" not in record["timings"]


def test_efficiency_must_be_a_boolean(tmp_path: Path) -> None:
    from asebench.api.errors import ConfigError

    with pytest.raises(ConfigError, match="efficiency"):
        build_config({"efficiency": "sometimes"})


def test_the_cli_switch_turns_the_passes_off(
    tiny_folder_dataset: Callable[..., Path], tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    root, run_dir = tiny_folder_dataset(), tmp_path / "run"
    result = run_cli(
        "run", "--methods", "majority", "--datasets", f"folder:{root}", "--tasks", "binary",
        "--run-dir", str(run_dir), "--device", "cpu", "--no-efficiency",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (path,) = sorted((run_dir / "cells").glob("*.json"))
    record = json.loads(path.read_text())
    assert "efficiency" not in record and record["config"]["efficiency"] is False
