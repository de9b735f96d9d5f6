"""Fine-tuned timm classifiers: the conventional vision baselines (CNN and ViT).

Registered names: ``resnet18``, ``resnet50``, ``tf_efficientnet_lite0``,
``convnext_tiny``, ``vit_small_patch16_224``, ``deit_small_patch16_224``
(weights ``auto``), plus ``tf_efficientnet_lite0-scratch`` and
``resnet18-scratch`` (random init). A run config adds any other timm model
without code::

    custom_methods:
      efficientnet_b0: {base: resnet18, options: {model: efficientnet_b0, weights: /models/effb0.safetensors}}

``weights`` is ``auto`` (offline package or an already-populated HF/timm
cache), ``scratch``, or a local file/directory; see
:mod:`asebench.components.weights`. Nothing is downloaded unless the run allows
it (``--allow-download``).

The recipe for pretrained weights is gentle, because a few hundred images
cannot repair a wrecked backbone: the new head starts at zero logits, BatchNorm
keeps its pretrained statistics and the backbone learns at 0.3 x the head's
rate (options ``head_init``, ``batchnorm``, ``backbone_lr_scale``). Without
them the quick profile's score moved by 0.08 macro-F1 between one and two
torch threads on one machine.

Profile defaults: ``quick`` trains at 96 px for up to 6 epochs (40-55 s per
cell on one thread of a 2-core CPU); ``paper`` at 224 px for up to 100 epochs
(meant for a GPU). Training and prediction pin one CPU thread by default
(``torch_threads``), so the numbers do not depend on the core count or the
executor and two fine-tunes can share two cores.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from asebench.api.errors import MethodUnavailable
from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.api.reproducibility import seed_torch
from asebench.components.backbone_options import (
    BASELINE_MODELS,
    BackboneOptions,
    PinnedThreadsOptions,
    backbone_availability,
    on_pinned_threads,
    profile_setting,
)


class FinetuneOptions(BackboneOptions, PinnedThreadsOptions):
    """Training options; see :mod:`asebench.components.training`."""

    epochs: int | None = Field(None, ge=1)
    grad_accumulation: int = Field(1, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_epochs: int = Field(1, ge=0)
    patience: int = Field(5, ge=1)
    loss: Literal["ce", "weighted_ce", "focal"] = "ce"
    focal_gamma: float = Field(2.0, ge=0)
    balanced_sampling: bool = False
    drop_rate: float = Field(0.2, ge=0, lt=1)
    backbone_lr_scale: float | None = Field(
        None,
        gt=0,
        le=1,
        description="the pretrained backbone's learning rate relative to lr (the new head's); "
        "None: 0.3 for pretrained weights, 1 for weights=scratch",
    )
    head_init: Literal["auto", "zeros", "timm"] = Field(
        "auto",
        description="zeros: the new classifier starts at zero logits; timm: the model's own init "
        "(EfficientNet's scales with 1/sqrt(classes): logits of about 20 at the start for 5 classes); "
        "auto: zeros for pretrained weights, timm for weights=scratch",
    )
    batchnorm: Literal["auto", "train", "frozen"] = Field(
        "auto",
        description="frozen: BatchNorm keeps its pretrained statistics while the weights train; "
        "auto: frozen for pretrained weights, train (batch statistics) for weights=scratch",
    )


class TimmFinetune(Method):
    family = "vision"
    version = "5"
    description = "timm classifier fine-tuned end to end (AdamW, warm-up + cosine, early stopping on val macro-F1)."
    capabilities = Capabilities(needs_training=True, needs_weights=True, thread_invariant=True, long_running=True)
    Options = FinetuneOptions

    @classmethod
    def availability(cls, options: FinetuneOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        return backbone_availability(options, allow_download)

    @on_pinned_threads
    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        import torch

        from asebench.components.backbones import create_timm_model, model_preprocessing
        from asebench.components.loaders import ImageDataset, build_transform, make_loader
        from asebench.components.training import TrainSettings, train_classifier
        from asebench.components.weights import resolve_weights

        seed_torch(self.context.seed, self.context.deterministic)
        options: FinetuneOptions = self.options  # type: ignore[assignment]
        device = self.context.device
        size = profile_setting(options, self.context.profile, "image_size", "finetune_image_size")
        source, reason = resolve_weights(options.model, options.weights, self.context.allow_download)
        if source is None:
            raise MethodUnavailable(reason or f"cannot resolve weights {options.weights}")
        self.weights_source = source
        self.model = create_timm_model(options.model, source, train.num_classes, size, drop_rate=options.drop_rate).to(
            device
        )
        if _zeroes_head(options):
            _zero_classifier(_classifier(self.model))
        if device.startswith("cuda"):
            self.model = self.model.to(memory_format=torch.channels_last)
        self.preprocessing = model_preprocessing(self.model, size)
        workers = self.context.num_workers
        # train and val are read every epoch: their datasets keep the decoded, resized images (bit-identical tensors)
        train_loader = make_loader(
            ImageDataset(
                train.samples, train.labels, build_transform(self.preprocessing, train.augmentation), memoize=True
            ),
            options.batch_size,
            device,
            workers,
            shuffle=True,
            balanced=options.balanced_sampling,
            seed=self.context.seed,
        )
        self.eval_transform = build_transform(self.preprocessing, None)
        val_loader = make_loader(
            ImageDataset(val.samples, val.labels, self.eval_transform, memoize=True),
            options.batch_size * 2,
            device,
            workers,
        )
        settings = TrainSettings(
            epochs=profile_setting(options, self.context.profile, "epochs"),
            lr=options.lr,
            weight_decay=options.weight_decay,
            warmup_epochs=options.warmup_epochs,
            patience=options.patience,
            loss=options.loss,
            focal_gamma=options.focal_gamma,
            grad_accumulation=options.grad_accumulation,
            amp=self.context.amp,
            freeze_batchnorm=_freezes_batchnorm(options),
            backbone_lr_scale=_backbone_lr_scale(options),
        )
        self.result = train_classifier(
            self.model,
            train_loader,
            val_loader,
            val.labels,
            train.class_counts(),
            settings,
            device,
            self.context.progress,
            head=_classifier(self.model),
        )

    @on_pinned_threads
    def predict(self, test: UnlabeledSplit) -> Predictions:
        import torch

        from asebench.components.loaders import ImageDataset, make_loader
        from asebench.components.training import predict_logits

        options: FinetuneOptions = self.options  # type: ignore[assignment]
        loader = make_loader(
            ImageDataset(test.samples, None, self.eval_transform),
            options.batch_size * 2,
            self.context.device,
            self.context.num_workers,
        )
        logits = predict_logits(self.model, loader, self.context.device, self.context.amp)
        return Predictions.from_probabilities(torch.softmax(logits, dim=1).numpy().astype(np.float64))

    def modules(self) -> list[Any]:
        return [self.model]

    def provenance(self) -> dict[str, Any]:
        return {
            "weights": self.weights_source.kind,
            "weights_description": self.weights_source.description,
            "weights_path": None if self.weights_source.path is None else str(self.weights_source.path),
            "weights_sha256": self.weights_source.sha256(),
            "preprocessing": self.preprocessing.as_dict(),
            "best_epoch": self.result.best_epoch,
            "best_val_macro_f1": self.result.best_val_macro_f1,
            "epochs_run": self.result.epochs_run,
            "history": self.result.history,
        }


def _classifier(model: Any) -> Any:
    """The new final layer: timm models expose it through ``get_classifier()``."""
    return model.get_classifier()


def _zero_classifier(head: Any) -> None:
    """Zero logits at the start: the first steps then train the head instead of knocking the backbone about."""
    import torch

    with torch.no_grad():
        for parameter in head.parameters():
            parameter.zero_()


def _zeroes_head(options: FinetuneOptions) -> bool:
    """A zero head on a random backbone learns too slowly in a quick profile, so ``auto`` zeroes pretrained only."""
    if options.head_init == "auto":
        return options.weights != "scratch"
    return options.head_init == "zeros"


def _freezes_batchnorm(options: FinetuneOptions) -> bool:
    """Randomly initialised statistics are meaningless, so ``auto`` freezes them only for pretrained weights."""
    if options.batchnorm == "auto":
        return options.weights != "scratch"
    return options.batchnorm == "frozen"


def _backbone_lr_scale(options: FinetuneOptions) -> float:
    if options.backbone_lr_scale is not None:
        return options.backbone_lr_scale
    return 1.0 if options.weights == "scratch" else 0.3


for _model in BASELINE_MODELS:
    register_method(_model, model=_model, weights="auto")(TimmFinetune)
register_method("tf_efficientnet_lite0-scratch", model="tf_efficientnet_lite0", weights="scratch")(TimmFinetune)
register_method("resnet18-scratch", model="resnet18", weights="scratch")(TimmFinetune)
