"""Locally aware patch features (PatchCore §3.1), as anomalib computes them.

Each mid-level stage map is averaged over its 3x3 neighbourhood (stride 1,
zero padding counted, i.e. ``AvgPool2d(3, 1, 1)``), every deeper map is
upsampled bilinearly to the first (shallowest) stage's grid, and the maps are
concatenated along channels. The paper then pools the channels adaptively to
a target dimension; anomalib does not, and neither do we unless
``target_dim`` is given.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RECIPE = "avgpool 3x3 stride 1 pad 1 per stage, bilinear (align_corners=False) to the first stage's grid, concat"


def locally_aware(stages: list[torch.Tensor]) -> torch.Tensor:
    """(B, C1 + C2 + ..., H1, W1) patch features from stage maps [(B, Ci, Hi, Wi), ...]."""
    pooled = [F.avg_pool2d(stage, kernel_size=3, stride=1, padding=1) for stage in stages]
    size = pooled[0].shape[-2:]
    resized = [
        p if p.shape[-2:] == size else F.interpolate(p, size=size, mode="bilinear", align_corners=False) for p in pooled
    ]
    return torch.cat(resized, dim=1)


def patches(grid: torch.Tensor, target_dim: int | None = None) -> torch.Tensor:
    """(B, C, H, W) feature grids -> (B, H * W, C') patch vectors, C' = target_dim by adaptive channel pooling."""
    vectors = grid.flatten(2).transpose(1, 2)  # (B, H*W, C), row-major positions
    if target_dim is None or target_dim == vectors.shape[-1]:
        return vectors.contiguous()
    b, n, c = vectors.shape
    return F.adaptive_avg_pool1d(vectors.reshape(b * n, 1, c), target_dim).reshape(b, n, target_dim)
