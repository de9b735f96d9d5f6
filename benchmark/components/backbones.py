"""Creating timm models with locally resolved weights and their exact preprocessing."""

from __future__ import annotations

from typing import Any

from torch import nn

from asebench.components.loaders import Preprocessing
from asebench.components.weights import WeightsSource, map_by_position, read_state_dict


def create_timm_model(
    model_name: str, source: WeightsSource, num_classes: int, image_size: int, **kwargs: Any
) -> nn.Module:
    """A timm model with ``num_classes`` outputs (0: pooled features) and the given weights.

    Weights are read by us with safe deserialisation and handed to timm as a
    state dict, so timm's own checkpoint filters still apply (classifier
    dropped when the class count differs, ViT position embeddings resampled to
    ``image_size``).
    """
    import timm

    size_kwargs: dict[str, Any] = {"img_size": image_size} if _takes_img_size(model_name) else {}
    if source.path is None:
        return timm.create_model(model_name, pretrained=False, num_classes=num_classes, **size_kwargs, **kwargs)
    state = read_state_dict(source.path)
    reference = timm.create_model(model_name, pretrained=False, **size_kwargs)
    if source.kind == "package":  # efficientnet_pytorch names: pair with timm's by position
        state = dict(map_by_position(state, reference.state_dict()))
    _check_backbone_coverage(reference, state, source)
    return timm.create_model(
        model_name,
        pretrained=True,
        num_classes=num_classes,
        pretrained_cfg_overlay={"source": "", "state_dict": state, "file": None, "url": None, "hf_hub_id": None},
        **size_kwargs,
        **kwargs,
    )


def _check_backbone_coverage(reference: nn.Module, state: dict[str, Any], source: WeightsSource) -> None:
    """Refuse a checkpoint that would leave backbone tensors at random init (timm only warns)."""
    timm_model: Any = reference  # timm sets pretrained_cfg (a dict); nn.Module types unknown attributes Tensor | Module
    heads = timm_model.pretrained_cfg.get("classifier") or ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    missing = [
        key
        for key in reference.state_dict()
        if key not in state
        and not key.endswith("num_batches_tracked")
        and not any(key.startswith(f"{head}.") for head in heads)
    ]
    if missing:
        raise ValueError(
            f"weights {source.path} lack {len(missing)} backbone tensors of this model, e.g. {missing[:3]}; "
            "is it a checkpoint of another architecture?"
        )


def _takes_img_size(model_name: str) -> bool:
    """Vision transformers are built for one input size; CNNs accept any."""
    return any(part in model_name for part in ("vit", "deit", "eva", "beit", "swin"))


def model_preprocessing(model: nn.Module, image_size: int) -> Preprocessing:
    """The model's own normalisation and interpolation, at ``image_size``."""
    return _preprocessing(getattr(model, "pretrained_cfg", {}) or {}, image_size)


def preprocessing_for(model_name: str, image_size: int) -> Preprocessing:
    """Same as :func:`model_preprocessing` without building the model (cache keys need it first)."""
    import timm

    config = timm.models.get_pretrained_cfg(model_name)
    return _preprocessing(config.to_dict() if config is not None else {}, image_size)


def _preprocessing(config: dict[str, Any], image_size: int) -> Preprocessing:
    return Preprocessing(
        size=image_size,
        interpolation=config.get("interpolation", "bilinear"),
        mean=tuple(config.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(config.get("std", (0.229, 0.224, 0.225))),
    )
