"""Options and availability of the few-shot methods (import-light: pydantic only).

Plugin modules import this at module level, so it must never import torch,
timm or learn2learn; availability checks use ``importlib.util.find_spec``.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import Field, field_validator

from asebench.components.backbone_options import (
    BackboneOptions,
    PinnedThreadsOptions,
    backbone_availability,
    profile_setting,
)

L2L_MISSING = "needs learn2learn (run scripts/install_learn2learn.sh)"

# Per (profile, backbone): the quick profile keeps every meta-learner well under a minute of
# meta-training on a ~500-image dataset on CPU (cached features); paper trains 10x longer.
META_PROFILE: dict[tuple[str, str], dict[str, Any]] = {
    ("quick", "timm"): {"meta_iterations": 300},
    ("paper", "timm"): {"meta_iterations": 3000},
    ("quick", "conv4"): {"meta_iterations": 300, "image_size": 32},
    ("paper", "conv4"): {"meta_iterations": 3000, "image_size": 64},
}


def shots_or_all(value: int | str) -> int | str:
    """Validator of ``full_test_shots`` where ``"all"`` is allowed."""
    if isinstance(value, int) and value < 1:
        raise ValueError("must be >= 1 or 'all'")
    return value


class FrozenFeatureOptions(BackboneOptions):
    """A frozen timm backbone (cached features) and the K of the full-test-set support.

    ``full_test_shots``: how many training samples per class build the
    classifier that labels the whole test split (sampled with the run seed);
    ``"all"`` uses every training sample.
    """

    full_test_shots: int | Literal["all"] = 5

    @field_validator("full_test_shots")
    @classmethod
    def _shots(cls, value: int | str) -> int | str:
        return shots_or_all(value)


class MetaOptions(BackboneOptions, PinnedThreadsOptions):
    """Episodic meta-training on the training split, shared by ProtoNet and the MAML family.

    ``backbone``: ``timm`` learns a small head on frozen cached features of
    ``model``/``weights``; ``conv4`` learns a 4-block conv net from scratch on
    ``image_size`` px images (``model``/``weights`` unused). ``ways``: classes
    per meta-training task (None: all classes of the task). ``train_shots`` /
    ``train_queries``: support / query samples per class in a meta-training
    task (reduced, and said so in the provenance, when a class is too small).
    ``meta_iterations`` None follows the profile. ``torch_threads`` pins the
    small networks' training and classification only; the backbone's feature
    extraction is not affected.
    """

    backbone: Literal["timm", "conv4"] = "timm"
    conv4_channels: int = Field(32, ge=1)
    ways: int | None = Field(None, ge=2)
    train_shots: int = Field(5, ge=1)
    train_queries: int = Field(5, ge=1)
    meta_batch_size: int = Field(4, ge=1)
    meta_iterations: int | None = Field(None, ge=1)
    meta_lr: float = Field(1e-3, gt=0)
    hidden_size: int = Field(128, ge=1)
    shuffle_labels: bool = True
    full_test_shots: int = Field(5, ge=1)


def meta_setting(options: MetaOptions, profile: str, name: str) -> Any:
    """An option's value, or the (profile, backbone) default when it is None."""
    value = getattr(options, name)
    if value is not None:
        return value
    if name == "image_size" and options.backbone == "timm":
        return profile_setting(options, profile, "image_size")
    return META_PROFILE[(profile, options.backbone)][name]


def frozen_availability(options: BackboneOptions, allow_download: bool = False) -> str | None:
    """Why frozen timm features cannot be computed here, or None."""
    return backbone_availability(options, allow_download)


def meta_availability(options: MetaOptions, allow_download: bool = False) -> str | None:
    """learn2learn first (its absence is the common case), then the backbone."""
    if importlib.util.find_spec("learn2learn") is None:
        return L2L_MISSING
    if options.backbone == "conv4":
        return None if importlib.util.find_spec("torch") is not None else "needs torch (pip install 'asebench[vision]')"
    return backbone_availability(options, allow_download)
