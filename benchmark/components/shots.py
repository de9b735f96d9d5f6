"""Normal reference shots: k normal training images per object, drawn with the cell's seed.

WinCLIP+, APRIL-GAN's few-shot mode and k-shot PatchCore all draw their
references the same way, so seeds give the same draws across them and a
record's reference ids can be reproduced: per object (sorted by name), the
object's normal training images sorted by id, then ``k`` of them without
replacement from one ``numpy.random.default_rng(seed)`` shared by the objects
in that order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from asebench.api.data import Sample


def normal_shots(
    samples: Sequence[Sample],
    objects: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    normal_index: int | None,
    k: int | None,
    seed: int,
    method: str,
) -> dict[str, list[Sample]]:
    """``{object: its k normal reference images}`` (``k`` None: all of them); too few images is an error."""
    normals: dict[str, list[Sample]] = defaultdict(list)
    for sample, obj, label in zip(samples, objects, labels, strict=True):
        if label == normal_index:
            normals[obj].append(sample)
    rng = np.random.default_rng(seed)
    shots: dict[str, list[Sample]] = {}
    for obj in sorted(normals):
        pool = sorted(normals[obj], key=lambda s: s.id)
        if k is not None:
            if len(pool) < k:
                raise ValueError(
                    f"{method}: k={k} reference shots but only {len(pool)} normal training images of {obj!r}"
                )
            pool = [pool[i] for i in sorted(rng.choice(len(pool), size=k, replace=False))]
        shots[obj] = pool
    return shots
