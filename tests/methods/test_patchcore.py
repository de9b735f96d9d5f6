"""PatchCore and the frozen-feature detectors: their pieces against oracles, and runs on a tiny anomaly-synth."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from asebench.api.data import Task
from asebench.api.method import Capabilities, task_refusal
from asebench.cli.run_command import run_and_summarise
from asebench.methods._patchcore.coreset import coreset, k_center_greedy
from asebench.methods._patchcore.features import locally_aware, patches
from asebench.methods._patchcore.scoring import anomaly_maps, held_out_patch_scores, image_scores, patch_scores
from asebench.methods.frozen_detectors import knn_scores, mahalanobis_scores
from asebench.methods.patchcore import PatchCore
from asebench.run.config import build_config

TINY = {
    "image_size": 64,
    "train_per_category": 8,
    "test_good_per_category": 4,
    "test_defect_per_kind": 2,
    "categories": ["grid", "washer"],
}


def farthest_point_oracle(points: np.ndarray, count: int, start: int) -> list[int]:
    """Brute force: every step recomputes each point's distance to every chosen centre, in float64."""
    chosen = [start]
    while len(chosen) < count:
        gaps = [min(float(((p - points[c]) ** 2).sum()) for c in chosen) for p in points]
        chosen.append(int(np.argmax(gaps)))
    return chosen


@pytest.mark.parametrize("start", [0, 17, 99])
def test_coreset_matches_brute_force_farthest_point_sampling(start: int) -> None:
    points = np.random.default_rng(start).normal(size=(120, 6)).astype(np.float32)
    chosen = k_center_greedy(torch.from_numpy(points), 25, start)
    assert chosen.tolist() == farthest_point_oracle(points.astype(np.float64), 25, start)


def test_coreset_keeps_the_ratio_and_a_seeded_start() -> None:
    bank = torch.randn(400, 200)  # 200 > 128: projected first
    first, start = coreset(bank, 0.1, seed=3)
    again, start_again = coreset(bank, 0.1, seed=3)
    assert len(first) == 40 and len(set(first.tolist())) == 40 and first[0] == start
    assert first.tolist() == again.tolist() and start == start_again
    assert coreset(bank, 1.0)[0].tolist() == list(range(400))


def test_patch_scores_are_the_direct_nearest_neighbour_distances() -> None:
    rng = np.random.default_rng(0)
    test, memory = rng.normal(size=(3, 10, 5)), rng.normal(size=(30, 5))
    scores, where = patch_scores(torch.from_numpy(test).float(), torch.from_numpy(memory).float())
    direct = np.linalg.norm(test[:, :, None, :] - memory[None, None], axis=-1)
    np.testing.assert_allclose(scores.numpy(), direct.min(-1), rtol=1e-4, atol=1e-4)
    assert (where.numpy() == direct.argmin(-1)).all()


def test_image_score_reweighting_by_hand() -> None:
    memory = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    test = torch.tensor([[[0.1, 0.0], [3.0, 0.0]]])  # the second patch is the worst; its nearest is [1, 0]
    scores, where = patch_scores(test, memory)
    assert where.tolist() == [[0, 1]] and scores[0, 1].item() == pytest.approx(2.0)
    # m* = [1, 0]; its 3 nearest memory patches: itself, [0, 0] (1), [0, 2] (sqrt 5)
    distances = np.array([2.0, 3.0, np.hypot(3.0, 2.0)])  # the worst test patch to each of them
    weight = 1 - np.exp(distances[0]) / np.exp(distances).sum()
    assert image_scores(test, scores, where, memory, 3).item() == pytest.approx(weight * 2.0, rel=1e-5)
    assert image_scores(test, scores, where, memory, 1).item() == pytest.approx(2.0)


def test_held_out_scores_leave_each_image_out() -> None:
    images = torch.randn(3, 4, 2)
    memory = images.reshape(-1, 2)
    rows = torch.arange(12)
    scores, _ = held_out_patch_scores(images, memory, rows // 4, rows % 4, 2)
    for i in range(3):
        others = torch.cat([images[j] for j in range(3) if j != i])
        expected = torch.cdist(images[i], others).min(dim=1).values
        torch.testing.assert_close(scores[i], expected, rtol=1e-4, atol=1e-4)
    single, _ = held_out_patch_scores(images[:1], images[0], torch.zeros(4, dtype=torch.long), torch.arange(4), 2)
    assert torch.isinf(single).all()  # a 2x2 grid: every patch is in every other's 3x3 neighbourhood


def test_locally_aware_features_and_maps_have_the_grid_and_image_sizes() -> None:
    grid = locally_aware([torch.ones(2, 3, 8, 8), torch.ones(2, 5, 4, 4)])
    assert grid.shape == (2, 8, 8, 8)
    assert torch.allclose(grid[:, :, 3, 3], torch.ones(2, 8))  # interior: the mean of ones
    assert patches(grid).shape == (2, 64, 8) and patches(grid, 4).shape == (2, 64, 4)
    maps = anomaly_maps(torch.rand(2, 64), (8, 8), 32)
    assert maps.shape == (2, 32, 32)
    flat = anomaly_maps(torch.full((1, 64), 0.7), (8, 8), 32)
    torch.testing.assert_close(flat, torch.full((1, 32, 32), 0.7))  # smoothing preserves a constant


def test_knn_and_mahalanobis_scores_against_direct_computations() -> None:
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(1)
    normal, queries = rng.normal(size=(20, 6)), rng.normal(size=(5, 6))
    direct = np.sort(np.linalg.norm(queries[:, None] - normal[None], axis=-1), axis=1)
    np.testing.assert_allclose(knn_scores(normal, queries, 3), direct[:, :3].mean(1), rtol=1e-6)
    # more rows than dimensions, fewer (as 40 images of 1,280-dim features), and one image (no spread)
    for rows, dims in ((20, 6), (8, 30), (1, 5)):
        normal, queries = rng.normal(size=(rows, dims)), rng.normal(size=(5, dims))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # scikit-learn: "Only one sample available"
            estimator = LedoitWolf().fit(normal)
            scores = mahalanobis_scores(normal, queries)
        centred = queries - estimator.location_
        expected = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", centred, estimator.precision_, centred), 0, None))
        np.testing.assert_allclose(scores, expected, rtol=1e-6, atol=1e-9)


def test_detectors_are_binary_only() -> None:
    for capabilities in (PatchCore.capabilities, Capabilities(binary_only=True)):
        assert task_refusal(capabilities, Task.MULTICLASS, "patchcore") is not None
        assert task_refusal(capabilities, Task.BINARY, "patchcore") is None


def run_config(tmp_path: Path, methods: list[str], split: dict[str, Any], **extra: Any) -> Any:
    """A run on the tiny anomaly-synth, backbones at its 64 px (the profile's 128 px costs 4x the compute)."""
    values: dict[str, Any] = {
        "methods": methods,
        "datasets": ["anomaly-synth"],
        "split": split,
        "dataset_options": {"anomaly-synth": TINY},
        "method_options": {name: {"image_size": 64} for name in methods},
        "device": "cpu",
        "run_dir": tmp_path / "run",
        "bootstrap": {"samples": 0},
        **extra,
    }
    return build_config(values)


def test_official_run_fills_the_per_category_table(tmp_path: Path) -> None:
    cfg = run_config(tmp_path, ["patchcore", "patchcore-1shot", "knn", "mahalanobis"], {"protocol": "official"})
    outcome, _ = run_and_summarise(cfg)
    records = {(r["cell"]["method"], r["cell"]["fold"]): r for r in outcome.records}
    assert len(records) == 8 and all(r["status"] == "ok" for r in records.values()), [
        r.get("error") for r in records.values()
    ]
    for (method, _), record in records.items():
        metrics = record["anomaly_metrics"]
        assert metrics["image_auroc"] is not None
        has_maps = method.startswith("patchcore")
        assert (metrics["pixel_auroc"] is not None) is has_maps, method
        assert "no usable validation split" in record["method"]["provenance"]["threshold"]["rule"]
    shots = records[("patchcore-1shot", 0)]["method"]["provenance"]["reference_ids"]
    assert list(shots) == ["grid"] and len(shots["grid"]) == 1 and "/train/good/" in shots["grid"][0]
    text = (outcome.run_dir / "anomaly.md").read_text(encoding="utf-8")
    for method in ("patchcore", "patchcore-1shot", "knn", "mahalanobis"):
        assert f"### {method} — anomaly-synth, official, binary" in text


def test_k_shot_draws_come_from_train_normals_and_differ_by_seed(tmp_path: Path) -> None:
    cfg = run_config(tmp_path, ["patchcore-2shot"], {"protocol": "official"}, seeds=[0, 1, 2])
    outcome, _ = run_and_summarise(cfg)
    draws = {}
    for record in outcome.records:
        assert record["status"] == "ok"
        ids = record["method"]["provenance"]["reference_ids"]
        (category,) = ids
        assert len(ids[category]) == 2 and all(f"{category}/train/good/" in i for i in ids[category])
        draws.setdefault(category, set()).add(tuple(ids[category]))
    assert all(len(seen) > 1 for seen in draws.values())


def test_holdout_multiclass_cells_are_skipped_and_binary_uses_validation_f1(tmp_path: Path) -> None:
    cfg = run_config(tmp_path, ["patchcore-1shot", "knn"], {"protocol": "holdout"}, tasks=["binary", "multiclass"])
    cfg = cfg.model_copy(update={"dataset_options": {"anomaly-synth": {**TINY, "test_defect_per_kind": 3}}})
    outcome, _ = run_and_summarise(cfg)
    by_task: dict[str, list[dict[str, Any]]] = {}
    for record in outcome.records:
        by_task.setdefault(record["cell"]["task"], []).append(record)
    assert all(r["status"] == "skipped" and "binary task" in r["skip_reason"] for r in by_task["multiclass"])
    for record in by_task["binary"]:
        assert record["status"] == "ok"
        assert record["method"]["provenance"]["threshold"]["rule"].startswith("max validation F1")
