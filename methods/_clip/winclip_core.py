"""WinCLIP / WinCLIP+ scoring from normalised features (Jeong et al., CVPR 2023).

* ascore0(f) = softmax over {normal, anomalous} of cos(f, g)/tau, anomalous
  entry = sigmoid((cos(f, g_a) - cos(f, g_n)) / tau).
* zero-shot map: per window size, each patch gets the harmonic mean of the
  scores of the windows covering it; the multi-scale map is the harmonic mean
  of the image score (broadcast) and the per-size maps.
* few-shot (WinCLIP+): distance to a memory of the k reference images' features
  at all positions, min over the memory of (1 - cos)/2, for patch tokens and
  for each window size (window distances aggregated per patch by harmonic
  mean); M_few = arithmetic mean of these maps; map = (M_zero + M_few) / 2;
  image score = (ascore0(image) + max M_few) / 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asebench.methods._clip.windows import VisualFeatures, harmonic_map, harmonic_mean


def ascore(features: torch.Tensor, prototypes: torch.Tensor, temperature: float) -> torch.Tensor:
    """Anomalous probability of unit ``features`` (..., E) against [normal, anomalous] unit prototypes (2, E)."""
    similarity = features @ prototypes.T
    return torch.sigmoid((similarity[..., 1] - similarity[..., 0]) / temperature)


def zero_shot(
    features: VisualFeatures, prototypes: torch.Tensor, temperature: float, indices: dict[int, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(image score (B,), patch-grid map (B, L)) of zero-shot WinCLIP."""
    image = ascore(features.image, prototypes, temperature)
    num_patches = features.patches.shape[1]
    maps = [image[:, None].expand(-1, num_patches)]
    maps += [
        harmonic_map(ascore(features.windows[k], prototypes, temperature), idx, num_patches)
        for k, idx in indices.items()
    ]
    return image, harmonic_mean(maps)


@dataclass(frozen=True)
class ReferenceMemory:
    """Normalised features of the k normal reference images, pooled over images and positions."""

    patches: torch.Tensor  # (k * L, width)
    windows: dict[int, torch.Tensor]  # k -> (k * W_k, E)

    @classmethod
    def from_features(cls, features: VisualFeatures) -> ReferenceMemory:
        return cls(
            patches=features.patches.reshape(-1, features.patches.shape[-1]),
            windows={k: w.reshape(-1, w.shape[-1]) for k, w in features.windows.items()},
        )


def memory_distance(queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """Min over the memory of (1 - cos) / 2 for unit queries (B, N, D) and a unit memory (M, D) -> (B, N)."""
    return ((1.0 - queries @ memory.T) / 2.0).min(dim=-1).values


def few_shot(features: VisualFeatures, memory: ReferenceMemory, indices: dict[int, torch.Tensor]) -> torch.Tensor:
    """M_few (B, L): mean of the patch-distance map and the harmonically aggregated window-distance maps."""
    num_patches = features.patches.shape[1]
    maps = [memory_distance(features.patches, memory.patches)]
    maps += [
        harmonic_map(memory_distance(features.windows[k], memory.windows[k]), idx, num_patches)
        for k, idx in indices.items()
    ]
    return torch.stack(maps).mean(dim=0)


def upsample(grid_maps: torch.Tensor, grid: tuple[int, int], size: int) -> torch.Tensor:
    """(B, L) patch maps -> (B, size, size), bilinear, no smoothing (§1.5 step 6)."""
    maps = grid_maps.reshape(-1, 1, *grid)
    return torch.nn.functional.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
