"""``april-gan`` and ``april-gan-fewshot``: APRIL-GAN zero-/few-shot anomaly classification and segmentation.

Chen, Han, Zhang, VAND 2023 (arXiv 2305.17382);
our implementation (:mod:`asebench.methods._aprilgan`):

* patch tokens of several blocks of the open_clip ViT (option ``stages``,
  1-based; default 1/4, 2/4, 3/4, 4/4 of the tower: 6/12/18/24 of
  ViT-L-14-336's 24 blocks), the raw residual stream (no ``ln_post``, no
  projection); one linear map per stage into the text space (the *adapter*),
  trained with focal (gamma 2) + Dice loss on pixel masks of an auxiliary
  dataset, backbone frozen (Adam, lr 1e-3, betas 0.5/0.999, option
  ``epochs``, default 3 as for MVTec -> VisA; the paper's 20 % 2x2 mosaics
  are not implemented);
* map = sum over stages of softmax(cos(adapted token, prototypes)/tau)
  [anomalous], bilinear (align_corners) to the input size (option
  ``map_size``); image score = softmax(cos(projected CLS, prototypes)/tau)
  [anomalous] (the adapter is not used for it); tau = 0.01 (option
  ``temperature``);
* text: WinCLIP's 7 normal states, its 4 anomalous states plus ``broken {}``,
  CLIP's 35 templates (option ``templates``), prototypes normalised per
  prompt, averaged, re-normalised (option ``prototype``);
* ``april-gan-fewshot`` (option ``k``, default 1; paper 1/2/4) adds per stage
  min(1 - cos) of the raw tokens to a memory of k normal training images per
  object (drawn without replacement with the cell's seed); image score =
  0.5 * (p + normalised map max). ``normalisation: inductive`` (default)
  divides the map max by the mean map max of the support images (each scored
  against the other k - 1, against all k when k = 1): a score depends on the
  support set and the image only. ``transductive`` is the paper's min-max over
  all test images of the object; the record flags it.

The adapter is an artifact (:mod:`asebench.methods._aprilgan.artifact`):
trained once per (backbone, stages, auxiliary data, prompts, training options,
seed), stored content-addressed in the cache, reused by every cell that needs
it; records name its path and sha256. Option ``adapter`` loads a given
``.safetensors`` instead (a converted released checkpoint, or a file an earlier
record names). Training needs defective images with masks in ``fit``: the
``transfer`` protocol with ``fit_on: test`` gives exactly that (the paper's
MVTec -> VisA); under ``official`` (normal images only) the cell is skipped
unless ``adapter`` is set.

Labels: "defect" when the image score >= a threshold chosen on validation by F1
(``f1_threshold``); without validation data 0.5 for the zero-shot probability,
and for the few-shot score the highest support-image score. Binary task only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from asebench.api.data import Sample
from asebench.api.errors import MethodUnavailable
from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.methods._clip.options import ClipPromptOptions, clip_availability, uses_random_weights

ZERO_SHOT_NAME = "april-gan"
FEW_SHOT_NAME = "april-gan-fewshot"
BINARY_STATES = ("normal", "defect")
DEFAULT_MODEL = "ViT-L-14-336-quickgelu"  # ViT-L-14-336 with OpenAI's QuickGELU, as the OpenAI weights need


class AprilGANOptions(ClipPromptOptions):
    """APRIL-GAN settings; ``k`` = 0 is zero-shot, ``k`` > 0 adds the k-shot patch memory."""

    model: str = DEFAULT_MODEL
    image_size: int | None = Field(518, ge=16)
    stages: list[int] | None = None
    k: int = Field(0, ge=0, le=64)
    adapter: Path | None = None
    epochs: int = Field(3, ge=1)
    learning_rate: float = Field(1e-3, gt=0.0)
    train_batch_size: int = Field(8, ge=1)
    gamma: float = Field(2.0, ge=0.0)
    normalisation: Literal["inductive", "transductive"] = "inductive"
    map_size: int | None = Field(None, ge=8)
    feature_memory_mb: int = Field(2048, ge=0)


class AprilGANFewShotOptions(AprilGANOptions):
    k: int = Field(1, ge=0, le=64)


@register_method(ZERO_SHOT_NAME)
class AprilGAN(Method):
    family = "clip-anomaly"
    version = "1"
    description = (
        "APRIL-GAN zero-shot: per-stage linear maps of CLIP patch tokens trained on an auxiliary dataset's masks."
    )
    capabilities = Capabilities(
        needs_training=True, zero_shot=True, needs_weights=True, anomaly_detector=True, binary_only=True
    )
    Options = AprilGANOptions
    registered_name: ClassVar[str] = ZERO_SHOT_NAME

    @classmethod
    def availability(cls, options: AprilGANOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        if options.adapter is not None and not Path(options.adapter).expanduser().is_file():
            return f"adapter file not found: {options.adapter} (option adapter)"  # before any weights download
        return clip_availability(options, cls.registered_name, allow_download)

    def placeholder_weights(self) -> bool:
        return uses_random_weights(self.options)  # type: ignore[arg-type]

    # -- fit ------------------------------------------------------------------------------

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        """Adapter (from the cache, a file, or trained on train's masks), k-shot memory, threshold."""
        from asebench.methods._aprilgan.core import check_stages, default_stages
        from asebench.methods._clip.model import load_clip
        from asebench.methods._clip.windows import check_vision_tower, grid_size

        options: AprilGANOptions = self.options  # type: ignore[assignment]
        if train.normal_index is None:
            raise ValueError(f"{self.registered_name} needs a dataset with a normal class (anomaly detection)")
        rows = [
            i
            for i, (s, y) in enumerate(zip(train.samples, train.labels, strict=True))
            if y == train.normal_index or s.mask is not None
        ]
        defective = sum(1 for i in rows if train.labels[i] != train.normal_index)
        if options.adapter is None and defective == 0:
            raise MethodUnavailable(self._no_masks_reason(train))
        self.bundle = load_clip(options, self.context.device, self.context.allow_download)
        self.visual = self.bundle.model.visual
        check_vision_tower(self.visual)
        layers = len(self.visual.transformer.resblocks)
        self.stages = check_stages(options.stages, layers) if options.stages else default_stages(layers)
        self.grid = grid_size(self.visual)
        self.size = self.bundle.preprocessing.size
        self.prompts = self._prompt_config()
        self.states = self._prototypes([*train.samples, *val.samples])
        self.adapter_info: dict[str, Any] = {}
        self._set_adapter(train, rows)
        self.memory: dict[str, list[Any]] = {}
        self.references: dict[str, list[str]] = {}
        self.reference_max: dict[str, float] = {}
        support_scores = np.zeros(0)
        if options.k > 0:
            support_scores = self._build_memory(train)
        val_scores = np.zeros(0)
        if len(val):
            val_scores, _ = self._score(val.samples, with_maps=False, what=f"{self.registered_name} validation")
        from asebench.components.thresholds import f1_threshold

        self.threshold = f1_threshold(val.labels != train.normal_index, val_scores)
        if self.threshold["val_f1"] is None and options.k > 0 and options.normalisation == "inductive":
            self.threshold = {
                "threshold": float(support_scores.max()),
                "val_f1": None,
                "rule": "fallback: the highest score of the normal support images (no validation split with both classes)",
            }

    def _no_masks_reason(self, train: LabeledSplit) -> str:
        return (
            f"{self.registered_name} trains its adapter on pixel masks of defective images, and this cell's training "
            f"data ({train.dataset_name}) has no defective image with a mask (the official protocol gives normal "
            "images only): run it under the transfer protocol with fit_on: test (the paper trains on another "
            "dataset's labelled test split), or set option adapter to a trained adapter .safetensors (the file an "
            "earlier record names in provenance.adapter.path, or a released checkpoint converted with "
            "bench/april_gan_published.py --convert)"
        )

    def _prompt_config(self) -> Any:
        from dataclasses import replace

        from asebench.methods._clip.prompts import (
            APRIL_GAN_ANOMALOUS_STATES,
            CLIP_TEMPLATES,
            NORMAL_STATES,
            load_prompts_file,
            prompt_config,
        )

        options: AprilGANOptions = self.options  # type: ignore[assignment]
        config = prompt_config(options)
        from_file = load_prompts_file(options.prompts_file) if options.prompts_file is not None else {}
        templates = options.templates or from_file.get("templates") or CLIP_TEMPLATES
        defaults = {"normal": NORMAL_STATES, "defect": APRIL_GAN_ANOMALOUS_STATES}
        states = {n: s for n, s in defaults.items() if n not in config.class_states and n not in config.file_states}
        return replace(config, templates=tuple(templates), class_states={**states, **config.class_states})

    def _prototypes(self, samples: Sequence[Sample]) -> Any:
        from asebench.methods._clip.zeroshot import build_prototypes, sample_objects

        options: AprilGANOptions = self.options  # type: ignore[assignment]
        objects = sample_objects(samples, self.prompts)
        return build_prototypes(
            self.bundle, BINARY_STATES, "normal", self.prompts, objects, options.prototype, binary=True
        )

    def _ensure_prototypes(self, samples: Sequence[Sample]) -> list[str]:
        from asebench.methods._clip.zeroshot import sample_objects

        objects = sample_objects(samples, self.prompts)
        missing = [s for s, o in zip(samples, objects, strict=True) if o not in self.states.by_object]
        if missing:
            self.states.by_object.update(self._prototypes(missing).by_object)
        return objects

    def _set_adapter(self, train: LabeledSplit, rows: list[int]) -> None:
        from asebench.methods._aprilgan.artifact import (
            adapter_from_state,
            adapter_identity,
            load_adapter_state,
            obtain_adapter,
        )
        from asebench.methods._clip.model import weights_sha256

        options: AprilGANOptions = self.options  # type: ignore[assignment]
        shape = (int(self.visual.transformer.width), self.bundle.embed_dim, len(self.stages))
        if options.adapter is not None:
            path = Path(options.adapter).expanduser()
            state = load_adapter_state(path)
            self.adapter_info = {"source": "file (option adapter)", "path": str(path), "sha256": weights_sha256(path)}
        else:
            identity = adapter_identity(self, train, rows)
            self.training: dict[str, Any] | None = None
            stored, trained = obtain_adapter(self.context.cache_dir, identity, lambda: self._train(train, rows, shape))
            state = load_adapter_state(stored.path)
            self.adapter_info = {
                "source": "trained in this cell" if trained else "cache (trained earlier, reused)",
                "path": str(stored.path),
                "sha256": stored.sha256,
                "identity": identity,
                "training": self.training,
            }
        self.adapter = adapter_from_state(state, *shape).eval().requires_grad_(False).to(self.context.device)

    def _train(self, train: LabeledSplit, rows: list[int], shape: tuple[int, int, int]) -> dict[str, Any]:
        import torch

        from asebench.methods._aprilgan.artifact import train_adapter
        from asebench.methods._aprilgan.features import TrainingFeatures

        options: AprilGANOptions = self.options  # type: ignore[assignment]
        samples = [train.samples[i] for i in rows]
        objects = self._ensure_prototypes(samples)
        prototypes = torch.stack([self.states.by_object[o] for o in objects])
        features = TrainingFeatures(self, samples, prototypes, options.feature_memory_mb)
        state, log = train_adapter(
            features.fetch,
            len(samples),
            shape,
            grid=self.grid,
            size=self.size,
            temperature=options.temperature,
            epochs=options.epochs,
            batch_size=options.train_batch_size,
            learning_rate=options.learning_rate,
            gamma=options.gamma,
            seed=self.context.seed,
            device=self.context.device,
            progress=self.context.progress,
        )
        self.training = {
            "steps": log.steps,
            "epoch_losses": log.epoch_losses,
            "images": len(samples),
            "defective_images": int(sum(s.mask is not None for s in samples)),
            "features_held_in_memory": features.held,
        }
        return state

    # -- few-shot memory ------------------------------------------------------------------

    def _build_memory(self, train: LabeledSplit) -> np.ndarray:
        """Draw k normal training images per object (seeded) -> per-stage memory; the support images' scores."""
        from asebench.methods._aprilgan.features import support_statistics

        options: AprilGANOptions = self.options  # type: ignore[assignment]
        from asebench.components.shots import normal_shots

        objects = self._ensure_prototypes(train.samples)
        shots = normal_shots(
            train.samples, objects, train.labels, train.normal_index, options.k, self.context.seed, self.registered_name
        )
        scores = []
        for obj, chosen in shots.items():
            self.references[obj] = [s.id for s in chosen]
            self.memory[obj], self.reference_max[obj], support = support_statistics(self, chosen, obj)
            scores.append(support)
        return np.concatenate(scores) if scores else np.zeros(0)

    # -- scoring --------------------------------------------------------------------------

    def _score(self, samples: Sequence[Sample], with_maps: bool, what: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(image scores (N,), maps (N, S, S) or None) in sample order."""
        from asebench.methods._aprilgan.core import inductive_image_scores, transductive_image_scores
        from asebench.methods._aprilgan.features import score_batches

        options: AprilGANOptions = self.options  # type: ignore[assignment]
        objects = self._ensure_prototypes(samples)
        if options.k > 0 and set(objects) - set(self.memory):
            absent = ", ".join(sorted(set(objects) - set(self.memory)))
            raise ValueError(
                f"{self.registered_name}: no normal training images of {absent} to draw reference shots from"
            )
        probability, maxima, maps = score_batches(self, samples, objects, with_maps, what)
        if options.k == 0:
            return probability, maps
        if options.normalisation == "transductive":
            return transductive_image_scores(probability, maxima, objects), maps
        reference = np.asarray([self.reference_max[o] for o in objects])
        return inductive_image_scores(probability, maxima, reference), maps

    def predict(self, test: UnlabeledSplit) -> Predictions:
        scores, maps = self._score(test.samples, with_maps=True, what=f"{self.registered_name} test")
        labels = (scores >= self.threshold["threshold"]).astype(np.int64)
        return Predictions(labels=labels, anomaly_scores=scores, anomaly_maps=maps)

    def modules(self) -> list[Any]:
        """The frozen CLIP model and the trained linear adapter (frozen once trained or loaded)."""
        return [self.bundle.model, self.adapter]

    def provenance(self) -> dict[str, Any]:
        options: AprilGANOptions = self.options  # type: ignore[assignment]
        few = options.k > 0
        return {
            **self.bundle.provenance,
            "stages": self.stages,
            "features": "raw residual stream of the patch tokens after each stage block (no ln_post, no projection)",
            "adapter": self.adapter_info,
            "prompts": {
                "states": self.states.describe(),
                "templates": len(self.prompts.templates),
                "prototype": options.prototype,
                "replace_underscores": options.replace_underscores,
            },
            "temperature": options.temperature,
            "map": {
                "size": options.map_size or self.size,
                "rule": "sum over stages of softmax(cos(adapter(token), prototypes)/tau)[anomalous]"
                + (" + sum over stages of min over the memory of (1 - cos)" if few else ""),
                "upsampling": "bilinear, align_corners=True, before the softmax; no smoothing",
            },
            "image_score": "softmax(cos(CLS, prototypes)/tau)[anomalous]"
            if not few
            else "0.5 * (softmax(cos(CLS, prototypes)/tau)[anomalous] + normalised map max)",
            "k_shots": options.k,
            "reference_ids": self.references,
            "normalisation": None
            if not few
            else {
                "mode": options.normalisation,
                "transductive": options.normalisation == "transductive",
                "rule": "min-max of the map maxima over all test images of the object (depends on the test set)"
                if options.normalisation == "transductive"
                else "map max / mean map max of the support images (leave-one-out when k >= 2)",
                "reference_max": self.reference_max,
            },
            "threshold": self.threshold,
        }


@register_method(FEW_SHOT_NAME, k=1)
class AprilGANFewShot(AprilGAN):
    description = "APRIL-GAN few-shot: the zero-shot maps plus a patch memory of k normal training images (option k)."
    capabilities = Capabilities(
        needs_training=True,
        zero_shot=False,
        needs_weights=True,
        anomaly_detector=True,
        reference_shots=True,
        binary_only=True,
    )
    Options = AprilGANFewShotOptions
    registered_name: ClassVar[str] = FEW_SHOT_NAME
