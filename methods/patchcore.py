"""``patchcore`` (full-shot) and ``patchcore-{1,2,4}shot``: PatchCore anomaly detection on a frozen timm backbone.

Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR
2022; the algorithm lives in :mod:`asebench.methods._patchcore` (features,
coreset, scoring), this plugin feeds it:

* memory per object (the sample's ``category`` metadata; one per cell under
  ``official``): locally aware patch features (stages ``layers`` of
  ``model``, default ``tf_efficientnet_lite0`` stages 2 and 3, ImageNet
  weights that work offline) of the object's normal training images, through
  the shared feature cache, then greedy k-center coreset (``coreset_ratio``);
* option ``k``: None = every normal training image (full-shot); k > 0 = k
  images per object drawn from the training split's normals with the cell's
  seed (ids recorded), as WinCLIP+ draws its shots;
* image score: max patch distance reweighted over ``num_neighbors`` memory
  neighbours; maps: bilinear upsampling + Gaussian sigma ``sigma``;
* labels: threshold by validation F1 of defect vs normal; without normal and
  defective validation images (``official``) the ``normal_quantile`` of
  held-out scores of the memory's own images (each scored without its own
  patches; 1-shot: without its own 3x3 neighbourhood)
  (:mod:`asebench.components.thresholds`).

Test images of an object without training normals are scored against the
union of all memories (the record counts them). Fitting and scoring run on
``torch_threads`` CPU threads (default 1), so the scores are the same on any
core count and executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from asebench.api.data import Sample
from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.components.backbone_options import (
    BackboneOptions,
    PinnedThreadsOptions,
    backbone_availability,
    on_pinned_threads,
    profile_setting,
)


class PatchCoreOptions(BackboneOptions, PinnedThreadsOptions):
    """PatchCore settings; ``k`` None = full-shot."""

    k: int | None = Field(None, ge=1, le=1024)
    layers: list[int] = Field(default_factory=lambda: [2, 3], min_length=1)
    coreset_ratio: float = Field(0.1, gt=0.0, le=1.0)
    num_neighbors: int = Field(9, ge=1)
    target_dim: int | None = Field(None, ge=1)
    sigma: float = Field(4.0, ge=0.0)
    normal_quantile: float = Field(0.99, ge=0.0, le=1.0)


def object_of(sample: Sample) -> str:
    """The object/category a sample shows ('' when its dataset has no categories)."""
    return str(sample.metadata.get("category", ""))


class PatchCore(Method):
    family = "patch-memory"
    version = "2"
    description = (
        "PatchCore: coreset memory of locally aware patch features of normal images (lite0 ImageNet offline), "
        "nearest-neighbour scores and maps; option k = normal shots per object (None: all)."
    )
    # thread_invariant through torch_threads (default 1): unpinned, its patch grids at 1 and 2 threads
    # differ in the 6th digit, and the last cells of a process-executor run waited for both cores
    capabilities = Capabilities(
        needs_training=False, needs_weights=True, anomaly_detector=True, binary_only=True, thread_invariant=True
    )
    Options = PatchCoreOptions
    registered_name: ClassVar[str] = "patchcore"

    @classmethod
    def availability(cls, options: PatchCoreOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        return backbone_availability(options, allow_download)

    def _grids(self, split: SplitView, samples: Sequence[Sample]) -> np.ndarray:
        """(N, C, H, W) locally aware feature grids of ``samples`` (cached per sample id)."""
        from asebench.components.extraction import SpatialOutput, frozen_features
        from asebench.methods._patchcore.features import RECIPE, locally_aware

        options: PatchCoreOptions = self.options  # type: ignore[assignment]
        spatial = SpatialOutput(tuple(options.layers), locally_aware, RECIPE)
        size = profile_setting(options, self.context.profile, "image_size")
        view = replace(split, samples=tuple(samples)) if isinstance(split, UnlabeledSplit) else split
        if isinstance(view, LabeledSplit):
            view = replace(view, samples=tuple(samples), labels=np.zeros(len(samples), dtype=np.int64))
        result = frozen_features(options.model, options.weights, size, options.batch_size, view, self.context, spatial)
        self.extraction = result.provenance
        self.computed += result.computed
        self.size = size
        return result.features

    def _patches(self, grids: np.ndarray) -> Any:
        import torch

        from asebench.methods._patchcore.features import patches

        options: PatchCoreOptions = self.options  # type: ignore[assignment]
        self.grid = (int(grids.shape[2]), int(grids.shape[3]))
        return patches(torch.from_numpy(grids), options.target_dim)

    @on_pinned_threads
    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        """Draw the reference images, build one coreset memory per object, choose the threshold."""
        import torch

        from asebench.components.shots import normal_shots
        from asebench.components.thresholds import detector_threshold
        from asebench.methods._patchcore.coreset import coreset

        options: PatchCoreOptions = self.options  # type: ignore[assignment]
        if train.normal_index is None:
            raise ValueError(f"{self.registered_name} needs a dataset with a normal class (anomaly detection)")
        self.computed = 0
        objects = [object_of(s) for s in train.samples]
        shots = normal_shots(
            train.samples, objects, train.labels, train.normal_index, options.k, self.context.seed, self.registered_name
        )
        if not shots:
            raise ValueError(f"{self.registered_name}: the training split has no normal image")
        self.references: dict[str, list[Sample]] = shots
        self.memory: dict[str, Any] = {}
        self.coreset_info: dict[str, dict[str, int]] = {}
        self.reference_patches: dict[str, Any] = {}
        for obj, pool in shots.items():
            patches = self._patches(self._grids(train, pool))  # (n, L, D)
            bank = patches.reshape(-1, patches.shape[-1])
            chosen, start = coreset(bank, options.coreset_ratio, seed=self.context.seed)
            self.memory[obj] = (bank[chosen], chosen)
            self.reference_patches[obj] = patches
            self.coreset_info[obj] = {"bank": int(bank.shape[0]), "memory": len(chosen), "start": start}
        self.union = torch.cat([m for m, _ in self.memory.values()])
        self.threshold = detector_threshold(
            val.labels != train.normal_index,
            lambda: self._score(val, val.samples, with_maps=False)[0],
            self._held_out,
            options.normal_quantile,
        )
        self.reference_patches = {}

    def _held_out(self) -> tuple[np.ndarray, str]:
        """Image scores of every reference image against its object's memory without its own patches."""
        from asebench.methods._patchcore.scoring import held_out_patch_scores, image_scores

        options: PatchCoreOptions = self.options  # type: ignore[assignment]
        scores = []
        for obj, (memory, rows) in self.memory.items():
            patches = self.reference_patches[obj]
            length = patches.shape[1]
            patch, where = held_out_patch_scores(patches, memory, rows // length, rows % length, self.grid[1])
            scores.append(image_scores(patches, patch, where, memory, options.num_neighbors).numpy())
        how = "each reference image against its object's coreset without that image's patches"
        if any(len(r) == 1 for r in self.references.values()):
            how += "; a single reference image: each patch without its own 3x3 neighbourhood"
        return np.concatenate(scores), how

    def _score(self, split: SplitView, samples: Sequence[Sample], with_maps: bool) -> tuple[np.ndarray, Any]:
        """(image scores (N,), maps (N, S, S) or None) in sample order."""
        import torch

        from asebench.methods._patchcore.scoring import anomaly_maps, image_scores, patch_scores

        options: PatchCoreOptions = self.options  # type: ignore[assignment]
        scores = np.zeros(len(samples))
        maps = np.zeros((len(samples), 0, 0), dtype=np.float32)
        if not samples:
            return scores, maps if with_maps else None
        patches = self._patches(self._grids(split, samples))
        objects = [object_of(s) for s in samples]
        self.unseen = sum(o not in self.memory for o in objects)
        result_maps = torch.zeros(len(samples), self.size, self.size) if with_maps else None
        for obj in sorted(set(objects)):
            rows = torch.tensor([i for i, o in enumerate(objects) if o == obj])
            memory = self.memory[obj][0] if obj in self.memory else self.union
            patch, where = patch_scores(patches[rows], memory)
            scores[rows.numpy()] = image_scores(patches[rows], patch, where, memory, options.num_neighbors).numpy()
            if result_maps is not None:
                result_maps[rows] = anomaly_maps(patch, self.grid, self.size, options.sigma)
        return scores, None if result_maps is None else result_maps.numpy().astype(np.float32)

    @on_pinned_threads
    def predict(self, test: UnlabeledSplit) -> Predictions:
        scores, maps = self._score(test, test.samples, with_maps=True)
        labels = (scores >= self.threshold["threshold"]).astype(np.int64)
        return Predictions(labels=labels, anomaly_scores=scores, anomaly_maps=maps)

    def modules(self) -> list[Any]:
        """The frozen backbone's stages (built for counting: predict reads its patch grids from the cache)."""
        from asebench.components.extraction import SpatialOutput, backbone_for_counting
        from asebench.methods._patchcore.features import RECIPE, locally_aware

        options: PatchCoreOptions = self.options  # type: ignore[assignment]
        spatial = SpatialOutput(tuple(options.layers), locally_aware, RECIPE)
        return [backbone_for_counting(options.model, self.size, spatial)]

    def provenance(self) -> dict[str, Any]:
        options: PatchCoreOptions = self.options  # type: ignore[assignment]
        return {
            **self.extraction,
            "features_computed": self.computed,
            "layers": list(options.layers),
            "patch_grid": list(self.grid),
            "target_dim": options.target_dim,
            "k_shots": options.k,
            "reference_ids": {o: [s.id for s in r] for o, r in self.references.items()} if options.k else None,
            "reference_images": {o: len(r) for o, r in self.references.items()},
            "coreset": {"ratio": options.coreset_ratio, "projection_dim": 128, "per_object": self.coreset_info},
            "num_neighbors": options.num_neighbors,
            "map": {"size": self.size, "upsampling": "bilinear", "gaussian_sigma": options.sigma},
            "threshold": self.threshold,
            "test_images_of_unseen_objects": getattr(self, "unseen", 0),
        }


register_method("patchcore")(PatchCore)


class PatchCoreShots(PatchCore):
    """k-shot PatchCore: it needs training images of every object it scores, so ``transfer`` refuses it."""

    description = (
        "PatchCore k-shot: memory from k normal training images per object drawn with the cell's seed "
        "(lite0 ImageNet offline); the anchor of WinCLIP's few-shot table."
    )
    capabilities = Capabilities(
        needs_training=False,
        needs_weights=True,
        anomaly_detector=True,
        binary_only=True,
        reference_shots=True,
        thread_invariant=True,
    )
    registered_name: ClassVar[str] = "patchcore-kshot"


for _k in (1, 2, 4):
    register_method(f"patchcore-{_k}shot", k=_k)(PatchCoreShots)
