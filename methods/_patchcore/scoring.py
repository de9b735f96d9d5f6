"""PatchCore scoring (§3.3): nearest memory patch, the reweighted image score, the smoothed map.

* patch score = Euclidean distance of a test patch to its nearest memory
  patch (batched matrix products, never a loop over patches);
* image score s = w * s*, where s* is the largest patch score of the image,
  m* the memory patch nearest to that test patch, and
  w = 1 - softmax(d)[0] over the distances d of that test patch to m* and to
  m*'s b - 1 other nearest memory patches (d[0] is s* itself; b =
  ``num_neighbors``, 9 in anomalib; b = 1 gives w-free s*, as anomalib does);
* anomaly map = patch scores on their grid, upsampled bilinearly to the image
  size, then Gaussian-smoothed with sigma 4 (kernel 2 * int(4 sigma + 0.5) + 1,
  reflect padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

QUERY_CHUNK = 4096


def squared_distances(queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """(Q, M) squared Euclidean distances, |q|^2 - 2 q.m + |m|^2 clamped at 0."""
    result = torch.addmm((memory * memory).sum(1)[None, :], queries, memory.T, alpha=-2.0)
    return result.add_((queries * queries).sum(1)[:, None]).clamp_(min=0)


def nearest(queries: torch.Tensor, memory: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances (Q, k), indices (Q, k)) of the ``k`` nearest memory rows of each query, nearest first."""
    distances, indices = [], []
    for lo in range(0, queries.shape[0], QUERY_CHUNK):
        squared = squared_distances(queries[lo : lo + QUERY_CHUNK], memory)
        values, where = torch.topk(squared, k=min(k, memory.shape[0]), dim=1, largest=False)
        distances.append(values.sqrt())
        indices.append(where)
    return torch.cat(distances), torch.cat(indices)


def patch_scores(patches: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores (B, L), nearest memory index (B, L)) of (B, L, D) test patches against the (M, D) memory."""
    b, length, d = patches.shape
    distances, indices = nearest(patches.reshape(b * length, d), memory, k=1)
    return distances[:, 0].reshape(b, length), indices[:, 0].reshape(b, length)


def image_scores(
    patches: torch.Tensor, scores: torch.Tensor, locations: torch.Tensor, memory: torch.Tensor, num_neighbors: int
) -> torch.Tensor:
    """(B,) reweighted image scores from the patch scores and their nearest memory indices (see module docstring)."""
    rows = torch.arange(scores.shape[0])
    worst = scores.argmax(dim=1)
    score = scores[rows, worst]
    if num_neighbors <= 1:
        return score
    nearest_memory = memory[locations[rows, worst]]  # m*, (B, D)
    _, support = nearest(nearest_memory, memory, k=num_neighbors)  # m* and its neighbours, (B, b)
    test_patch = patches[rows, worst]  # (B, D)
    distances = (memory[support] - test_patch[:, None, :]).norm(dim=-1)  # (B, b)
    weights = 1.0 - torch.softmax(distances, dim=1)[:, 0]
    return weights * score


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """1-D normalised Gaussian of size 2 * int(4 sigma + 0.5) + 1."""
    radius = int(4.0 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def anomaly_maps(scores: torch.Tensor, grid: tuple[int, int], size: int, sigma: float = 4.0) -> torch.Tensor:
    """(B, size, size) maps: (B, H * W) patch scores upsampled bilinearly, then Gaussian-smoothed (sigma 0: none)."""
    maps = F.interpolate(scores.reshape(-1, 1, *grid), size=(size, size), mode="bilinear", align_corners=False)
    if sigma > 0:
        kernel = gaussian_kernel(sigma).to(maps)
        radius = kernel.numel() // 2
        pad = min(radius, size - 1)  # reflect padding needs pad < size: tiny maps get a truncated kernel
        kernel = kernel[radius - pad : radius + pad + 1]
        kernel = kernel / kernel.sum()
        maps = F.pad(maps, (pad, pad, pad, pad), mode="reflect")
        maps = F.conv2d(maps, kernel.reshape(1, 1, 1, -1))
        maps = F.conv2d(maps, kernel.reshape(1, 1, -1, 1))
    return maps[:, 0]


def held_out_patch_scores(
    patches: torch.Tensor, memory: torch.Tensor, memory_image: torch.Tensor, memory_position: torch.Tensor, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`patch_scores` for the memory's own (N, L, D) source images, each scored without itself.

    Memory rows of the same image are masked out; when the memory comes from
    a single image (1-shot) only the rows within one grid step (Chebyshev
    distance <= 1, the 3x3 neighbourhood the features were averaged over) of
    the query patch are, so the score says how far a patch is from the rest of
    the image. ``memory_image`` and ``memory_position`` give each row's source
    image and position (row-major on a grid ``width`` wide).
    """
    count, length, _ = patches.shape
    single = int(memory_image.max()) == int(memory_image.min())
    positions = torch.arange(length)
    near = ((positions[:, None] // width - memory_position[None, :] // width).abs() <= 1) & (
        (positions[:, None] % width - memory_position[None, :] % width).abs() <= 1
    )
    scores, locations = [], []
    for image in range(count):
        squared = squared_distances(patches[image], memory)
        mask = (memory_image == image)[None, :].expand(length, -1)
        squared = squared.masked_fill(mask & near if single else mask, float("inf"))
        values, where = squared.min(dim=1)
        scores.append(values.sqrt())
        locations.append(where)
    return torch.stack(scores), torch.stack(locations)
