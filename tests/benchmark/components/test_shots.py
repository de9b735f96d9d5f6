"""Normal reference shots: per object, k normal training images drawn with the cell's seed."""

from __future__ import annotations

import numpy as np
import pytest

from asebench.api.data import Sample
from asebench.components.shots import normal_shots


def samples(count: int) -> list[Sample]:
    return [Sample(id=f"{i:02d}", label="x", image=np.zeros((2, 2), dtype=np.uint8)) for i in range(count)]


def test_shots_are_normal_images_of_each_object_drawn_with_the_seed() -> None:
    data = samples(12)
    objects = ["b" if i % 2 else "a" for i in range(12)]
    labels = [1 if i % 3 == 0 else 0 for i in range(12)]  # 0 is normal
    shots = normal_shots(data, objects, labels, 0, 2, seed=5, method="m")
    assert list(shots) == ["a", "b"]
    for obj, chosen in shots.items():
        assert len(chosen) == 2
        assert all(objects[int(s.id)] == obj and labels[int(s.id)] == 0 for s in chosen)
    assert normal_shots(data, objects, labels, 0, 2, seed=5, method="m") == shots  # reproducible
    draws = {tuple(s.id for s in normal_shots(data, objects, labels, 0, 2, seed=s, method="m")["a"]) for s in range(8)}
    assert len(draws) > 1  # seeds give other draws
    assert all(len(v) == 4 for v in normal_shots(data, objects, labels, 0, None, seed=0, method="m").values())


def test_too_few_normal_images_name_the_method_and_the_object() -> None:
    with pytest.raises(
        ValueError, match="patchcore-4shot: k=4 reference shots but only 2 normal training images of 'a'"
    ):
        normal_shots(samples(2), ["a", "a"], [0, 0], 0, 4, seed=0, method="patchcore-4shot")
