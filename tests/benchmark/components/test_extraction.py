"""Frozen features through the shared cache do not depend on which ids were missing when they were computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asebench.api.data import Sample
from asebench.api.method import MethodContext, split_view

pytest.importorskip("timm")

# its convolutions round differently in a batch of one image and in larger ones, and at 1 and 2 threads (~5e-6)
BATCH_SENSITIVE_MODEL = "tf_efficientnet_lite0"


def _features(samples: list[Sample], cache: Path) -> np.ndarray:
    import torch

    from asebench.components.extraction import frozen_features

    torch.manual_seed(0)  # scratch weights: the same random backbone on every call
    split = split_view(samples, ["normal"], [0] * len(samples))
    return frozen_features(BATCH_SENSITIVE_MODEL, "scratch", 64, 8, split, MethodContext(cache_dir=cache)).features


def test_a_cold_cache_filled_piecemeal_equals_one_filled_at_once(tmp_path: Path) -> None:
    """Cells ask for different splits in a schedule-dependent order; every order must cache the same vectors."""
    rng = np.random.default_rng(0)
    samples = [Sample(f"s{i:02d}", "normal", rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)) for i in range(11)]
    at_once = _features(samples, tmp_path / "at-once")
    _features(samples[4:5], tmp_path / "piecemeal")  # another cell's split (of one image) came first
    piecemeal = _features(samples, tmp_path / "piecemeal")
    assert np.array_equal(at_once, piecemeal)
    assert np.array_equal(_features(samples[::-1], tmp_path / "reversed")[::-1], at_once)


def test_the_cached_features_do_not_depend_on_the_callers_thread_count(tmp_path: Path) -> None:
    """A local cell has every core, a process worker one: the cache they share must not tell them apart."""
    import torch

    rng = np.random.default_rng(1)
    samples = [Sample(f"s{i}", "normal", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for i in range(3)]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _features(samples, tmp_path / "one")
        torch.set_num_threads(2)
        two = _features(samples, tmp_path / "two")
        assert torch.get_num_threads() == 2  # the caller's setting is restored
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(one, two)
