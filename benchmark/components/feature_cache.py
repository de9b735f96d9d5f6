"""Frozen-backbone features, computed once and cached on disk.

The cache is content-addressed: one file per (backbone, weights sha256,
preprocessing, dataset fingerprint), holding a feature vector per sample id.
Sample ids are unique within a fingerprint and the fingerprint covers the
file contents, so an id always means the same pixels. Any method and any seed
that asks for the same backbone on the same dataset reuses the file; only ids
not yet in it are run through the backbone.

On a CPU every image runs through the backbone alone (:func:`cache_batch_size`)
on one thread. Which ids are missing when a cell asks depends on which cells
ran before it, or beside it in another process, and a convolution's rounding
depends on both the batch it runs in and the thread count
(``tf_efficientnet_lite0``: ~5e-6 between batches of 1 and 32, and between 1
and 2 threads at batch 1). Computed alone on one thread, an image's features
are a function of the image, so a cached value, and every result built on it,
is the same under any executor and schedule. It costs little: one image per
pass is as fast as batches on a CPU, and the one-time fill of the 455 default
images takes seconds per backbone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asebench.api.data import Sample
from asebench.components.rng import rng_preserved
from asebench.store.atomic import atomic_write_bytes, file_lock
from asebench.store.hashing import stable_hash

FEATURE_CACHE_VERSION = "2"  # 2: one image per pass, one thread on a CPU (version 1 files came from batches)


@contextmanager
def _one_cpu_thread(device: str) -> Iterator[None]:
    """One torch intra-op thread while the cache is filled on a CPU (see the module docstring)."""
    from asebench.components.training import torch_threads  # imports torch: only when a fill is due

    with torch_threads(None if device.startswith("cuda") else 1):
        yield


def cache_batch_size(requested: int, device: str) -> int:
    """The batch size to fill the cache with: 1 on a CPU (see the module docstring), ``requested`` on an accelerator.

    On CUDA a batch of one wastes the device, and its kernels are chosen per
    shape anyway; results there are reproducible per schedule, not across them.
    """
    return requested if device.startswith("cuda") else 1


@dataclass(frozen=True)
class FeatureKey:
    """Everything that determines a sample's frozen features."""

    model: str
    weights_sha256: str | None
    preprocessing: dict[str, Any]
    dataset_fingerprint: str
    # What is stored per sample: the pooled vector, or e.g. PatchCore's patch-feature grid (its recipe).
    output: str = "pooled"

    def digest(self) -> str:
        """The cache file's name: content only (no code path), so a warm cache survives refactors."""
        content: dict[str, Any] = {
            "version": FEATURE_CACHE_VERSION,
            "model": self.model,
            "weights": self.weights_sha256,
            "preprocessing": self.preprocessing,
            "dataset": self.dataset_fingerprint,
        }
        if self.output != "pooled":  # pooled files keep the names they had before other outputs existed
            content["output"] = self.output
        return stable_hash(content, length=24)


class FeatureCache:
    """One ``.npz`` file per :class:`FeatureKey` under ``<cache>/features/``; a sample's features may be any array shape."""

    def __init__(self, root: Path, key: FeatureKey) -> None:
        self.key = key
        self.path = Path(root) / "features" / f"{key.digest()}.npz"

    def load(self) -> dict[str, np.ndarray]:
        """Every cached feature vector by sample id (empty when the file does not exist yet)."""
        if not self.path.exists():
            return {}
        with np.load(self.path, allow_pickle=False) as data:
            return dict(zip(data["ids"].tolist(), data["features"], strict=True))

    def save(self, features: dict[str, np.ndarray]) -> None:
        """Write the whole file atomically, with its key inside for whoever inspects it later."""
        ids = sorted(features)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            ids=np.array(ids, dtype=str),
            features=np.stack([features[i] for i in ids]).astype(np.float32),
            key=np.array(json.dumps(self.key.__dict__, sort_keys=True, default=str)),
        )
        atomic_write_bytes(self.path, buffer.getvalue())

    def get(
        self,
        samples: Sequence[Sample],
        compute: Callable[[Sequence[Sample]], np.ndarray],
        device: str = "cpu",
    ) -> tuple[np.ndarray, int]:
        """Features of ``samples`` in order, and how many had to be computed (on ``device``'s terms, see above).

        Computing holds a lock on the cache file, so parallel workers (process
        or Ray executor) sharing the cache wait for one another's features
        instead of running the same backbone on the same images at once.
        """
        cached = self.load()
        missing = [s for s in samples if s.id not in cached]
        if missing:
            with file_lock(self.path.with_suffix(".lock")):
                cached = self.load()  # another worker may have computed them while this one waited
                missing = [s for s in samples if s.id not in cached]
                if missing:
                    # a cold cache must not change the cell's random draws, nor depend on its thread count
                    with rng_preserved(), _one_cpu_thread(device):
                        fresh = compute(missing)
                    cached.update({s.id: row for s, row in zip(missing, fresh, strict=True)})
                    self.save(cached)
        return np.stack([cached[s.id] for s in samples]).astype(np.float32), len(missing)
