"""The small learnable networks of the few-shot methods (imports torch).

* on frozen features: an MLP (``Linear -> ReLU -> Linear``), used as the
  ProtoNet embedding or as the MAML-family classifier;
* ``conv4``: four ``conv3x3 -> GroupNorm -> ReLU -> maxpool2`` blocks, the
  classic few-shot backbone, learned from scratch on small images. GroupNorm
  replaces the usual BatchNorm on purpose: it normalises each image on its own,
  so a prediction never depends on which other test images share its batch
  (MAML's batch-statistics BatchNorm is transductive) and there are no running
  statistics for an adapted clone to disturb.

:func:`asebench.components.training.torch_threads` runs these tiny networks on one CPU thread: their
matrices are too small to split, and on a busy machine idle OpenMP workers
spinning for a time slice made meta-training and episodes 15-20x slower.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(in_features: int, hidden: int, out_features: int) -> nn.Sequential:
    """Two linear layers with a ReLU: small enough to adapt in a few ms per episode."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features))


class Conv4(nn.Sequential):
    """Four conv blocks then flatten: ``(N, 3, s, s) -> (N, channels * (s // 16) ** 2)``."""

    def __init__(self, channels: int, image_size: int) -> None:
        if image_size < 16:
            raise ValueError(f"conv4 needs images of at least 16 px (four 2x poolings), got {image_size}")
        layers: list[nn.Module] = []
        in_channels = 3
        for _ in range(4):
            layers += [
                nn.Conv2d(in_channels, channels, 3, padding=1),
                nn.GroupNorm(math.gcd(8, channels), channels),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            in_channels = channels
        layers.append(nn.Flatten())
        super().__init__(*layers)
        self.out_features = channels * (image_size // 16) ** 2


def body(kind: str, in_shape: tuple[int, ...], hidden: int, channels: int) -> tuple[nn.Module, int]:
    """The part before the last layer: ``(module, its output width)``.

    ``timm`` features: ``Linear -> ReLU`` to ``hidden``; ``conv4`` images: the
    conv net at the images' size.
    """
    if kind == "conv4":
        conv = Conv4(channels, in_shape[-1])
        return conv, conv.out_features
    return nn.Sequential(nn.Linear(in_shape[0], hidden), nn.ReLU()), hidden


def squared_distances(queries: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """``(Q, C)`` squared Euclidean distances, as in Snell et al. (2017)."""
    return (queries[:, None, :] - prototypes[None, :, :]).pow(2).sum(-1)
