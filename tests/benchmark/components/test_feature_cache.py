"""The content-addressed feature cache: its keys never change, and only new ids are computed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asebench.api.data import Sample
from asebench.components.feature_cache import FeatureCache, FeatureKey, cache_batch_size

PREPROCESSING = {"size": 128, "interpolation": "bicubic", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def test_keys_are_pinned_so_a_warm_cache_keeps_hitting(tmp_path: Path) -> None:
    """Nothing in a key may depend on code layout; only a new FEATURE_CACHE_VERSION (2: one image per pass on a CPU) renames."""
    key = FeatureKey("tf_efficientnet_lite0", "ab" * 32, PREPROCESSING, "f" * 16)
    assert key.digest() == "b2f9d0a23bef2117e72e9ac9"
    assert FeatureCache(tmp_path, key).path == tmp_path / "features" / "b2f9d0a23bef2117e72e9ac9.npz"
    imagenet = {"size": 32, "interpolation": "bilinear", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    scratch = FeatureKey("resnet18", None, imagenet, "fingerprint")
    assert scratch.digest() == "7e44378bbd56d2bb8d285165"


def test_only_ids_missing_from_the_file_are_computed(tmp_path: Path) -> None:
    samples = [Sample(id=f"s{i}", image=tmp_path / f"s{i}.png", label="normal") for i in range(4)]
    asked: list[list[str]] = []

    def compute(batch: Sequence[Sample]) -> np.ndarray:
        asked.append([s.id for s in batch])
        return np.array([[float(s.id[1:]), 1.0] for s in batch])

    cache = FeatureCache(tmp_path, FeatureKey("m", None, PREPROCESSING, "fp"))
    first, computed = cache.get(samples[:2], compute)
    assert computed == 2 and first.dtype == np.float32
    second, computed = FeatureCache(tmp_path, cache.key).get(samples[::-1], compute)
    assert computed == 2 and asked == [["s0", "s1"], ["s3", "s2"]]
    np.testing.assert_array_equal(second[:, 0], [3.0, 2.0, 1.0, 0.0])


def test_a_cpu_fills_the_cache_one_image_per_pass_and_cuda_in_batches() -> None:
    """On a CPU a feature must not depend on which other ids were missing when it was computed."""
    assert cache_batch_size(32, "cpu") == 1
    assert cache_batch_size(32, "cuda") == 32 and cache_batch_size(8, "cuda:1") == 8
