"""APRIL-GAN: losses by hand, stage features, inductive vs transductive scores, the adapter artifact, runs.

Models are a tiny randomly initialised open_clip ViT (64 px, patch 16: a 4x4
grid, 2 blocks) built from a config JSON with ``weights: random``: numbers
check plumbing and maths only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

import torch

from asebench.api.data import Task
from asebench.api.method import MethodContext, split_view
from asebench.cli.run_command import run_and_summarise
from asebench.methods._aprilgan import artifact
from asebench.methods._aprilgan.core import (
    StageAdapter,
    april_gan_loss,
    default_stages,
    dice_loss,
    focal_loss,
    inductive_image_scores,
    stage_features,
    transductive_image_scores,
)
from asebench.methods.april_gan import AprilGAN, AprilGANFewShot, AprilGANFewShotOptions, AprilGANOptions
from asebench.run.config import RunConfig

SIZE = 64
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": SIZE, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
SYNTH = {
    "image_size": 48,
    "train_per_category": 4,
    "test_good_per_category": 2,
    "test_defect_per_kind": 1,
    "categories": ["grid", "washer"],
}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("clip") / "tiny-clip-64.json"
    path.write_text(json.dumps(TINY))
    return str(path)


# -- maths -----------------------------------------------------------------------------------


def test_focal_and_dice_losses_match_hand_computed_values() -> None:
    # two pixels: anomalous probability 0.8 on a defect pixel, 0.3 on a normal one
    anomalous = torch.tensor([[[0.8, 0.3]]])
    probabilities = torch.stack([1 - anomalous, anomalous], dim=1)  # (1, 2, 1, 2)
    target = torch.tensor([[[1.0, 0.0]]])
    focal = (0.2**2 * -math.log(0.8) + 0.3**2 * -math.log(0.7)) / 2  # p_t = 0.8 and 0.7, gamma 2
    assert float(focal_loss(probabilities, target)) == pytest.approx(focal, rel=1e-6)
    assert focal == pytest.approx(0.0205132, abs=1e-6)
    dice = 1 - (2 * 0.8 + 1) / ((0.8 + 0.3) + 1 + 1)  # smoothing 1
    assert float(dice_loss(anomalous, target)) == pytest.approx(dice, rel=1e-6)
    assert dice == pytest.approx(0.1612903, abs=1e-6)
    two_stages = torch.stack([probabilities, probabilities], dim=1)  # (1, S=2, 2, 1, 2): summed over stages
    assert float(april_gan_loss(two_stages, target)) == pytest.approx(2 * (focal + dice), rel=1e-6)
    assert float(focal_loss(probabilities, target, gamma=0.0)) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)


def test_default_stages_are_proportional_to_the_tower_depth() -> None:
    assert default_stages(24) == [6, 12, 18, 24]
    assert default_stages(12) == [3, 6, 9, 12]
    assert default_stages(2) == [1, 2]


def test_stage_features_are_the_raw_residual_stream_and_the_cls_is_the_image_embedding(tiny_model: str) -> None:
    from asebench.methods._clip.model import load_clip

    bundle = load_clip(AprilGANOptions(model=tiny_model, weights="random", image_size=SIZE), "cpu")
    visual = bundle.model.visual
    images = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    outputs: list[torch.Tensor] = []
    hooks = [b.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for b in visual.transformer.resblocks]
    with torch.no_grad():
        reference = visual(images)
        outputs.clear()
        cls, tokens = stage_features(visual, images, [1, 2])
    for hook in hooks:
        hook.remove()
    torch.testing.assert_close(cls, reference)
    assert [t.shape for t in tokens] == [torch.Size([2, 16, 64])] * 2
    for stage, out in zip(tokens, outputs, strict=True):
        torch.testing.assert_close(stage, out[:, 1:])  # block outputs, before ln_post, without the class token


def test_inductive_scores_ignore_the_other_test_images_and_transductive_ones_do_not() -> None:
    probability = np.array([0.2, 0.6, 0.4])
    maxima = np.array([1.0, 3.0, 2.0])
    changed = np.array([1.0, 5.0, 0.5])  # images 2 and 3 replaced
    reference = np.full(3, 2.0)
    assert inductive_image_scores(probability, maxima, reference)[0] == pytest.approx(0.5 * (0.2 + 0.5))
    assert (
        inductive_image_scores(probability, maxima, reference)[0]
        == inductive_image_scores(probability, changed, reference)[0]
    )
    groups = ["a", "a", "a"]
    assert transductive_image_scores(probability, maxima, groups)[0] == pytest.approx(0.1)  # (1 - 1) / (3 - 1) = 0
    assert transductive_image_scores(probability, changed, groups)[0] == pytest.approx(0.5 * (0.2 + 0.5 / 4.5))


# -- the method on in-memory data --------------------------------------------------------------


def images(seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(count)]


def view(arrays: list[np.ndarray], labels: list[int] | None, masks: bool = False, prefix: str = "x") -> Any:
    from asebench.api.data import Sample

    samples = []
    for i, image in enumerate(arrays):
        mask = None
        if masks and labels is not None and labels[i] == 1:
            mask = np.zeros((32, 32), dtype=np.uint8)
            mask[8:16, 8:16] = 255
        label = "normal" if labels is None or labels[i] == 0 else "defect"
        samples.append(Sample(f"{prefix}{i}", label, image, mask, {"category": "tile"}))
    return split_view(samples, ("normal", "defect"), labels, task=Task.BINARY, normal_index=0)


def random_adapter(path: Path) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        state = StageAdapter(64, 32, 2).state_dict()
    path.write_bytes(artifact.state_bytes(state, {}))
    return path


@pytest.mark.parametrize("normalisation", ["inductive", "transductive"])
def test_fewshot_score_of_an_image_depends_on_the_others_only_when_transductive(
    tmp_path: Path, tiny_model: str, normalisation: str
) -> None:
    options = AprilGANFewShotOptions(
        model=tiny_model,
        weights="random",
        image_size=SIZE,
        k=2,
        adapter=random_adapter(tmp_path / "adapter.safetensors"),
        normalisation=normalisation,  # type: ignore[arg-type]
    )
    method = AprilGANFewShot(options, MethodContext(cache_dir=tmp_path / "cache"))
    method.fit(view(images(0, 4), [0, 0, 0, 0]), view([], []))
    first = images(1, 3)
    second = [first[0], *images(2, 2)]  # the same first image among other test images
    a = method.predict(view(first, None)).anomaly_scores
    b = method.predict(view(second, None)).anomaly_scores
    assert a is not None and b is not None
    if normalisation == "inductive":
        assert a[0] == pytest.approx(b[0], abs=1e-9)
    else:
        assert abs(a[0] - b[0]) > 1e-6
    prov = method.provenance()
    assert prov["normalisation"]["transductive"] is (normalisation == "transductive")
    assert prov["adapter"]["source"] == "file (option adapter)" and len(prov["reference_ids"]["tile"]) == 2


def test_the_adapter_is_trained_once_and_then_reused_by_its_hash(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = artifact.train_adapter

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["seed"])
        return original(*args, **kwargs)

    monkeypatch.setattr(artifact, "train_adapter", counting)
    options = AprilGANOptions(model=tiny_model, weights="random", image_size=SIZE, epochs=1)
    train = view(images(0, 6), [0, 0, 0, 1, 1, 1], masks=True)

    def fit(seed: int) -> dict[str, Any]:
        method = AprilGAN(options, MethodContext(seed=seed, cache_dir=tmp_path / "cache"))
        method.fit(train, view([], []))
        return dict(method.provenance()["adapter"])

    first, second = fit(0), fit(0)
    assert calls == [0]  # trained once; the second fit loaded it
    assert first["source"] == "trained in this cell" and second["source"].startswith("cache")
    assert first["sha256"] == second["sha256"] == artifact.file_sha256(Path(first["path"]))
    assert first["training"]["steps"] == 1 and first["training"]["defective_images"] == 3
    assert Path(first["path"]).name == f"{first['sha256']}.safetensors"
    third = fit(1)  # another seed is another artifact
    assert calls == [0, 1] and third["sha256"] != first["sha256"]
    Path(first["path"]).write_bytes(b"tampered")  # a file that no longer hashes to its name is not trusted
    assert fit(0)["source"] == "trained in this cell" and calls == [0, 1, 0]


def test_a_released_checkpoint_converts_to_safetensors_without_pickle(tmp_path: Path) -> None:
    state = StageAdapter(64, 32, 2).state_dict()
    torch.save({"trainable_linearlayer": state}, tmp_path / "epoch_15.pth")
    sha = artifact.convert_checkpoint(tmp_path / "epoch_15.pth", tmp_path / "adapter.safetensors")
    assert sha == artifact.file_sha256(tmp_path / "adapter.safetensors")
    loaded = artifact.load_adapter_state(tmp_path / "adapter.safetensors")
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    with pytest.raises(ValueError, match=r"only \.safetensors"):
        artifact.load_adapter_state(tmp_path / "epoch_15.pth")


# -- through the runner -------------------------------------------------------------------------


def transfer_run(tmp_path: Path, tiny_model: str, name: str) -> list[dict[str, Any]]:
    clip = {"model": tiny_model, "weights": "random", "image_size": SIZE, "epochs": 1}
    outcome = run_and_summarise(
        RunConfig(
            methods=["april-gan*"],
            datasets=["anomaly-synth-b"],
            dataset_options={"anomaly-synth": SYNTH, "anomaly-synth-b": SYNTH},
            split={"protocol": "transfer", "train": "anomaly-synth", "test": "anomaly-synth-b", "fit_on": "test"},
            device="cpu",
            run_dir=tmp_path / name,
            bootstrap={"samples": 0},
            method_options={"april-gan": clip, "april-gan-fewshot": clip},
            cell_cache=False,  # the second run computes its cells, so it must find the adapter
        )
    )[0]
    return outcome.records


def test_transfer_trains_the_adapter_once_and_a_second_run_reuses_it(tmp_path: Path, tiny_model: str) -> None:
    first, second = transfer_run(tmp_path, tiny_model, "run1"), transfer_run(tmp_path, tiny_model, "run2")
    for records in (first, second):
        zero = [r for r in records if r["cell"]["method"] == "april-gan"]
        assert [r["status"] for r in zero] == ["ok", "ok"] and [r["split"]["category"] for r in zero] == [
            "grid",
            "washer",
        ]
        for record in zero:
            assert record["method"]["placeholder_weights"] is True  # random weights: meaningless numbers
            assert record["anomaly_metrics"]["pixel_auroc"] is not None
        few = [r for r in records if r["cell"]["method"] == "april-gan-fewshot"]
        assert {r["status"] for r in few} == {"skipped"} and "reference shots" in few[0]["skip_reason"]
    adapters = [r["method"]["provenance"]["adapter"] for r in (*first, *second) if r["status"] == "ok"]
    assert len({a["sha256"] for a in adapters}) == 1  # one artifact for every cell of both runs
    assert adapters[0]["source"] == "trained in this cell"
    assert all(a["source"].startswith("cache") for a in adapters[1:])
    assert adapters[0]["identity"]["auxiliary"]["dataset"] == "anomaly-synth"
    text = (tmp_path / "run2" / "anomaly.md").read_text(encoding="utf-8")
    assert "### april-gan ⚠ — anomaly-synth-b, transfer from anomaly-synth (fit on test), binary" in text


def test_official_protocol_without_an_adapter_skips_with_the_fix(tmp_path: Path, tiny_model: str) -> None:
    clip = {"model": tiny_model, "weights": "random", "image_size": SIZE}
    outcome = run_and_summarise(
        RunConfig(
            methods=["april-gan"],
            datasets=["anomaly-synth"],
            dataset_options={"anomaly-synth": {**SYNTH, "categories": ["grid"]}},
            split={"protocol": "official"},
            device="cpu",
            run_dir=tmp_path / "run",
            bootstrap={"samples": 0},
            method_options={"april-gan": clip},
        )
    )[0]
    [record] = outcome.records
    assert record["status"] == "skipped"
    assert "no defective image with a mask" in record["skip_reason"] and "option adapter" in record["skip_reason"]
