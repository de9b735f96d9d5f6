"""Work a cache removes leaves the cell's random state alone, so cold and warm caches give the same numbers."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from asebench.api.data import Sample
from asebench.components.feature_cache import FeatureCache, FeatureKey
from asebench.components.rng import rng_preserved


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_the_generators_come_back_where_they_were() -> None:
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = draws()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    with rng_preserved():
        draws(), torch.nn.Linear(64, 64)  # what building a backbone does to the global generators
    assert draws() == expected


def test_a_cold_feature_cache_does_not_move_the_cells_random_draws(tmp_path: Path) -> None:
    samples = [Sample(id=f"s{i}", image=np.zeros((4, 4, 3), dtype=np.uint8), label="normal") for i in range(3)]

    def compute(todo: list[Sample]) -> np.ndarray:
        torch.nn.Linear(16, 16)  # a model is built only when something is missing
        return np.ones((len(todo), 2), dtype=np.float32)

    cache = FeatureCache(tmp_path, FeatureKey("m", None, {}, "fingerprint"))
    after = []
    for _ in ("cold", "warm"):
        torch.manual_seed(0)
        cache.get(samples, compute)  # type: ignore[arg-type]
        after.append(float(torch.rand(1)))
    assert after[0] == after[1]
