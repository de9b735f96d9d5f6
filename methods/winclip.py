"""``winclip`` and ``winclip-fewshot``: WinCLIP / WinCLIP+ anomaly classification and segmentation.

Jeong et al., CVPR 2023 (our own
implementation; the official code was never released):

* compositional prompt ensemble: 7 normal and 4 anomalous states x 22
  templates, prototypes normalised per prompt, averaged, re-normalised
  (option ``prototype``), object name from the sample's ``category``
  metadata with ``_`` -> space (or option ``object_name``);
* image score ascore0 = softmax(cos/tau) over {normal, anomalous}, tau = 0.01
  (CLIP's logit scale 100; option ``temperature``);
* 2x2 and 3x3 windows of patch tokens (option ``window_sizes``) at stride 1,
  embedded in batches (:mod:`asebench.methods._clip.windows`, which also
  explains the open_clip >= 2.26.1 layout trap and how it is avoided);
  harmonic aggregation per patch and across scales, bilinear upsampling to the
  input size (option ``map_size``), no smoothing;
* ``winclip-fewshot`` (WinCLIP+, option ``k``, default 1; the paper reports
  k = 1, 2, 4): ``k`` normal reference images per object drawn from the
  *training* split with the cell's seed (so seeds give different draws, ids
  recorded; under the ``official`` protocol that is the category's official
  normal training images, and ``transfer`` refuses the method: it would need
  images of the target), memory of patch tokens and window embeddings at all positions,
  AS map = (M_zero + M_few) / 2, image score = (ascore0 + max M_few) / 2.

Labels (the runner scores them like any classifier's):

* binary task: "defect" when the image score is >= a threshold chosen on the
  validation split by F1 of defect vs normal (ties -> the highest threshold;
  fallback 0.5 when validation lacks a class or is empty, as under the
  ``official`` protocol; see ``asebench.components.thresholds.f1_threshold``);
* multiclass task, two-stage: an image below the
  threshold is the normal class, one above it gets the defect type whose
  zero-shot text prototype (``{} with <type>`` phrases, or ``class_prompts`` /
  ``prompts_file``) is closest to its image embedding. Anonymous type names
  (``type1``...) without prompts make the multiclass cell fail as "not
  applicable"; a dataset without a normal class cannot be used.

Anomaly scores and maps go to the runner, which computes image AUROC/AP/F1-max
and, where masks exist, pixel AUROC/AP/F1-max and PRO.

Weights: ``auto`` (default) is WinCLIP's ``ViT-B-16-plus-240`` ``laion400m_e31``
from the Hugging Face cache (downloaded with ``--allow-download``), or a local
open_clip checkpoint (option ``weights``); without one the method is
unavailable. ``weights: random`` (tests only) gives meaningless numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from asebench.api.data import Sample, Task
from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.methods._clip.options import ClipPromptOptions, clip_availability, uses_random_weights

ZERO_SHOT_NAME = "winclip"
FEW_SHOT_NAME = "winclip-fewshot"
BINARY_STATES = ("normal", "defect")


class WinCLIPOptions(ClipPromptOptions):
    """WinCLIP settings; ``k`` = 0 is zero-shot, ``k`` > 0 is WinCLIP+ with k normal reference shots."""

    k: int = Field(0, ge=0, le=64)
    window_sizes: list[int] = Field(default_factory=lambda: [2, 3])
    window_batch: int = Field(1024, ge=1)
    map_size: int | None = Field(None, ge=8)

    @field_validator("window_sizes")
    @classmethod
    def _distinct_sizes(cls, value: list[int]) -> list[int]:
        if not value or len(set(value)) != len(value) or min(value) < 1:
            raise ValueError("give one or more distinct window sizes >= 1 (in patches)")
        return value


class WinCLIPFewShotOptions(WinCLIPOptions):
    k: int = Field(1, ge=0, le=64)


@register_method(ZERO_SHOT_NAME)
class WinCLIP(Method):
    family = "clip-anomaly"
    version = "1"
    description = "WinCLIP zero-shot anomaly classification + segmentation (window prompts, harmonic aggregation)."
    capabilities = Capabilities(needs_training=False, zero_shot=True, needs_weights=True, anomaly_detector=True)
    Options = WinCLIPOptions
    registered_name: ClassVar[str] = ZERO_SHOT_NAME

    @classmethod
    def availability(cls, options: WinCLIPOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        return clip_availability(options, cls.registered_name, allow_download)

    # -- fit ------------------------------------------------------------------------------

    def placeholder_weights(self) -> bool:
        return uses_random_weights(self.options)  # type: ignore[arg-type]

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        """Text prototypes, the k-shot reference memory (from train normals), the threshold (on val)."""
        from asebench.components.thresholds import f1_threshold
        from asebench.methods._clip.model import load_clip
        from asebench.methods._clip.prompts import prompt_config
        from asebench.methods._clip.windows import check_vision_tower, grid_size, self_check, window_indices

        options: WinCLIPOptions = self.options  # type: ignore[assignment]
        if train.normal_index is None:
            raise ValueError(f"{self.registered_name} needs a dataset with a normal class (anomaly detection)")
        self.bundle = load_clip(options, self.context.device, self.context.allow_download)
        self.visual = self.bundle.model.visual
        check_vision_tower(self.visual)
        self.layout_check = self_check(self.visual, self.context.device)
        self.grid = grid_size(self.visual)
        self.indices = {k: window_indices(*self.grid, k) for k in options.window_sizes}
        self.prompts = prompt_config(options)
        self.normal_index = train.normal_index
        self.states = self._state_prototypes([*train.samples, *val.samples])
        self.types = (
            self._type_prototypes(train, [*train.samples, *val.samples]) if train.task is Task.MULTICLASS else None
        )
        self.memory: dict[str, Any] = {}
        self.references: dict[str, list[str]] = {}
        if options.k > 0:
            self._build_memory(train)
        val_scores = np.zeros(0)  # no validation split (the official protocol): the threshold falls back to 0.5
        if len(val):
            val_scores, _, _ = self._score(val.samples, with_maps=False, what=f"{self.registered_name} validation")
        self.threshold = f1_threshold(val.labels != self.normal_index, val_scores)

    def _state_prototypes(self, samples: Sequence[Sample]) -> Any:
        from asebench.methods._clip.zeroshot import build_prototypes, sample_objects

        options: WinCLIPOptions = self.options  # type: ignore[assignment]
        return build_prototypes(
            self.bundle,
            BINARY_STATES,
            "normal",
            self.prompts,
            sample_objects(samples, self.prompts),
            options.prototype,
            binary=True,
        )

    def _type_prototypes(self, view: LabeledSplit | UnlabeledSplit, samples: Sequence[Sample]) -> Any:
        from asebench.methods._clip.zeroshot import build_prototypes, sample_objects

        options: WinCLIPOptions = self.options  # type: ignore[assignment]
        defects = [name for i, name in enumerate(view.class_names) if i != self.normal_index]
        return build_prototypes(
            self.bundle,
            defects,
            None,
            self.prompts,
            sample_objects(samples, self.prompts),
            options.prototype,
            descriptions=getattr(view, "class_descriptions", None),
        )

    def _build_memory(self, train: LabeledSplit) -> None:
        """Draw k normal training images per object (seeded) and keep their features as the memory."""
        from asebench.components.shots import normal_shots
        from asebench.methods._clip.winclip_core import ReferenceMemory
        from asebench.methods._clip.zeroshot import sample_objects

        options: WinCLIPOptions = self.options  # type: ignore[assignment]
        objects = sample_objects(train.samples, self.prompts)
        shots = normal_shots(
            train.samples, objects, train.labels, self.normal_index, options.k, self.context.seed, self.registered_name
        )
        for obj, chosen in shots.items():
            features = self._features_of(chosen)
            self.memory[obj] = ReferenceMemory.from_features(features)
            self.references[obj] = [s.id for s in chosen]

    def _features_of(self, samples: Sequence[Sample], indices: dict[int, Any] | None = None) -> Any:
        """Normalised features of ``samples`` (in order), from the bundle's memo where another cell made them."""
        import torch

        from asebench.methods._clip.windows import VisualFeatures, extract_features

        options: WinCLIPOptions = self.options  # type: ignore[assignment]
        indices = self.indices if indices is None else indices
        memo = self.bundle.feature_memo
        keys = [(str(s.image), tuple(sorted(indices))) if isinstance(s.image, Path) else None for s in samples]
        found = [None if key is None else memo.get(key) for key in keys]
        missing = [i for i, features in enumerate(found) if features is None]
        if missing:
            computed = []
            with torch.inference_mode():
                for images, _ in self.bundle.loader([samples[i] for i in missing], options.batch_size, self.context):
                    batch = extract_features(self.visual, images.to(self.context.device), indices, options.window_batch)
                    computed += [batch.select([row]) for row in range(len(images))]
            for i, features in zip(missing, computed, strict=True):
                found[i] = features
                if keys[i] is not None:
                    memo.put(keys[i], features)
        return VisualFeatures.concat(found)  # type: ignore[arg-type]

    # -- scoring --------------------------------------------------------------------------

    def _score(
        self, samples: Sequence[Sample], with_maps: bool, what: str
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(image scores (N,), maps (N, S, S) or None, unit image embeddings (N, E)) in sample order."""
        import torch

        from asebench.methods._clip.winclip_core import few_shot, upsample, zero_shot
        from asebench.methods._clip.zeroshot import sample_objects

        options: WinCLIPOptions = self.options  # type: ignore[assignment]
        objects = sample_objects(samples, self.prompts)
        missing = sorted(set(objects) - set(self.states.by_object))
        if missing:
            self.states.by_object.update(
                self._state_prototypes([s for s, o in zip(samples, objects, strict=True) if o in missing]).by_object
            )
        if options.k > 0 and set(objects) - set(self.memory):
            absent = ", ".join(sorted(set(objects) - set(self.memory)))
            raise ValueError(
                f"{self.registered_name}: no normal training images of {absent} to draw reference shots from"
            )
        size = options.map_size or self.bundle.preprocessing.size
        # zero-shot image scores need only the class token: skip the window passes when no map is wanted
        indices = self.indices if with_maps or options.k > 0 else {}
        scores, maps, embeddings = [], [], []
        starts = range(0, len(samples), options.batch_size)
        with torch.inference_mode():
            for step, start in enumerate(starts, start=1):
                batch_objects = objects[start : start + options.batch_size]
                features = self._features_of(samples[start : start + options.batch_size], indices)
                batch_scores = torch.zeros(len(batch_objects), device=features.image.device)
                batch_maps = torch.zeros(len(batch_objects), features.patches.shape[1], device=features.image.device)
                for obj in sorted(set(batch_objects)):
                    rows = [i for i, o in enumerate(batch_objects) if o == obj]
                    part = features.select(rows)
                    prototypes = self.states.by_object[obj].to(part.image.device)
                    image_score, zero_map = zero_shot(part, prototypes, options.temperature, indices)
                    if options.k > 0:
                        few_map = few_shot(part, self.memory[obj], self.indices)
                        zero_map = (zero_map + few_map) / 2
                        image_score = (image_score + few_map.max(dim=1).values) / 2
                    batch_scores[rows] = image_score
                    batch_maps[rows] = zero_map
                scores.append(batch_scores.cpu().numpy())
                embeddings.append(features.image.cpu())
                if with_maps:
                    maps.append(upsample(batch_maps, self.grid, size).cpu().numpy().astype(np.float32))
                self.context.progress(what, step, len(starts))
        return (
            np.concatenate(scores).astype(np.float64),
            np.concatenate(maps) if with_maps else None,
            torch.cat(embeddings).numpy(),
        )

    # -- predict --------------------------------------------------------------------------

    def predict(self, test: UnlabeledSplit) -> Predictions:
        import torch

        from asebench.methods._clip.zeroshot import class_logits, sample_objects

        options: WinCLIPOptions = self.options  # type: ignore[assignment]
        scores, maps, embeddings = self._score(test.samples, with_maps=True, what=f"{self.registered_name} test")
        is_defect = scores >= self.threshold["threshold"]
        if self.types is None:
            labels = is_defect.astype(np.int64)
        else:
            missing = set(sample_objects(test.samples, self.prompts)) - set(self.types.by_object)
            if missing:
                self.types.by_object.update(self._type_prototypes(test, test.samples).by_object)
            logits = class_logits(
                torch.from_numpy(embeddings), test.samples, self.types, self.prompts, options.temperature
            )
            defect_classes = [i for i in range(test.num_classes) if i != self.normal_index]
            typed = np.asarray(defect_classes)[logits.argmax(axis=1)]
            labels = np.where(is_defect, typed, self.normal_index).astype(np.int64)
        return Predictions(labels=labels, anomaly_scores=scores, anomaly_maps=maps)

    def modules(self) -> list[Any]:
        return [self.bundle.model]

    def provenance(self) -> dict[str, Any]:
        options: WinCLIPOptions = self.options  # type: ignore[assignment]
        return {
            **self.bundle.provenance,
            "prompts": {
                "states": self.states.describe(),
                "defect_types": None if self.types is None else self.types.describe(),
                "templates": len(self.prompts.templates),
                "prototype": options.prototype,
                "replace_underscores": options.replace_underscores,
            },
            "temperature": options.temperature,
            "window_sizes": list(options.window_sizes),
            "windows_per_image": {str(k): int(v.shape[0]) for k, v in self.indices.items()},
            "window_embedding": "batch-first short sequences [CLS + k*k patch tokens] after pos-embed and ln_pre; transformer.batch_first checked",
            "layout_self_check": self.layout_check,
            "k_shots": options.k,
            "reference_ids": self.references,
            "threshold": self.threshold,
            "image_score": "ascore0(CLS)" if options.k == 0 else "(ascore0(CLS) + max M_few) / 2",
            "map": {
                "size": options.map_size or self.bundle.preprocessing.size,
                "upsampling": "bilinear, align_corners=False, no smoothing",
            },
            "multiclass_rule": None
            if self.types is None
            else "two-stage: normal below the threshold, else nearest defect-type text prototype",
        }


@register_method(FEW_SHOT_NAME, k=1)
class WinCLIPFewShot(WinCLIP):
    description = (
        "WinCLIP+ few-shot: WinCLIP plus k normal reference shots from the training split (option k, default 1)."
    )
    capabilities = Capabilities(
        needs_training=False, zero_shot=False, needs_weights=True, anomaly_detector=True, reference_shots=True
    )
    Options = WinCLIPFewShotOptions
    registered_name: ClassVar[str] = FEW_SHOT_NAME
