"""``clip-probe`` and CLIP weights: safe local loading, sha256 provenance, the shared feature cache."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

import torch

from asebench.api.registry import METHODS
from asebench.methods._clip.model import RANDOM_INIT_SEED, build_model, load_clip, resolve_architecture
from asebench.methods._clip.options import ClipOptions
from asebench.run.config import RunConfig
from asebench.run.runner import run

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("clip") / "tiny-clip-32.json"
    path.write_text(json.dumps(TINY))
    return str(path)


def trained_like_state(tiny_model: str) -> dict[str, torch.Tensor]:
    """A state dict that differs from the random init, as a real checkpoint would."""
    state = build_model(resolve_architecture(tiny_model), None).state_dict()
    return {k: (v * 0.5 + 0.01) if v.is_floating_point() else v for k, v in state.items()}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_a_local_checkpoint_loads_safely_and_its_sha256_is_recorded(
    tmp_path: Path, tiny_model: str, suffix: str
) -> None:
    state = trained_like_state(tiny_model)
    path = tmp_path / f"tiny{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    bundle = load_clip(ClipOptions(model=tiny_model, weights=str(path)), "cpu")
    for key, value in bundle.model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    assert bundle.provenance["weights"] == "file" and bundle.provenance["weights_path"] == str(path)
    assert bundle.provenance["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "weights_only=True" in bundle.provenance["weights_loader"]


class _Exploit:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("code ran while loading",))


def test_a_pickle_that_runs_code_is_refused(tmp_path: Path, tiny_model: str) -> None:
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"visual.proj": _Exploit()}, handle, protocol=2)
    with pytest.raises(ValueError, match="safe loading"):
        load_clip(ClipOptions(model=tiny_model, weights=str(path)), "cpu")


def test_random_weights_are_reproducible_and_labelled(tiny_model: str) -> None:
    first = build_model(resolve_architecture(tiny_model), None).state_dict()
    second = build_model(resolve_architecture(tiny_model), None).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    bundle = load_clip(ClipOptions(model=tiny_model, weights="random"), "cpu")
    assert bundle.provenance["weights_sha256"] is None and str(RANDOM_INIT_SEED) in bundle.provenance["weights_loader"]
    assert "meaningless" in bundle.provenance["weights_note"]


def test_missing_weights_and_unknown_architectures_say_what_to_fix(tmp_path: Path) -> None:
    cls = METHODS.get("clip-probe")
    missing = cls.availability(cls.Options(weights=str(tmp_path / "nope.safetensors")))
    assert missing == f"weights file not found: {tmp_path / 'nope.safetensors'}"
    assert "unknown open_clip architecture 'ViT-Nope'" in cls.availability(
        cls.Options(model="ViT-Nope", weights="random")
    )
    with pytest.raises(ValueError, match="unknown open_clip architecture 'ViT-Nope'"):
        resolve_architecture("ViT-Nope")
    assert resolve_architecture("ViT-B-16-plus-240").config["vision_cfg"]["image_size"] == 240


def test_probe_runs_on_the_tiny_folder_dataset_and_reuses_cached_features(
    tmp_path: Path, tiny_model: str, tiny_folder_dataset: Any
) -> None:
    config = {
        "methods": ["clip-probe"],
        "datasets": ["folder"],
        "dataset_options": {"folder": {"root": str(tiny_folder_dataset())}},
        "device": "cpu",
        "run_dir": tmp_path / "run",
        "bootstrap": {"samples": 10},
        "method_options": {"clip-probe": {"model": tiny_model, "weights": "random", "c_grid": [1.0]}},
    }
    first = run(RunConfig(**config))
    assert not first.failed, [r.get("error") for r in first.failed]
    prov = first.records[0]["method"]["provenance"]
    assert prov["weights"] == "random" and prov["feature_cache"].endswith(".npz") and prov["C"] == 1.0
    assert prov["preprocessing"] == {
        "size": 32,
        "interpolation": "bicubic",
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
        "crop": "none (whole image resized to a square)",
    }
    assert sum(r["method"]["provenance"]["features_computed"] for r in first.records) == 26  # every image once
    again = run(RunConfig(**{**config, "rerun": True}))
    assert all(r["method"]["provenance"]["features_computed"] == 0 for r in again.records)
