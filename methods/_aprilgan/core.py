"""APRIL-GAN's maths (Chen, Han, Zhang, VAND 2023), on open_clip 3.x ViTs.

* **Stage features:** the vision tower is run block by block (batch-first, as
  :mod:`asebench.methods._clip.windows` checks); after each chosen block
  (1-based) the *raw residual stream* of the patch tokens is kept -- no
  ``ln_post``, no projection. The class token still goes through the whole
  tower, ``ln_post`` and the projection: that is the image embedding the
  classification uses.
* **Adapter:** one linear map per stage, width -> embedding dimension (the
  text space), keys ``fc.<i>.weight`` / ``fc.<i>.bias`` as in the released
  checkpoints. Its outputs are L2-normalised.
* **Zero-shot map:** per stage, logits cos(adapted token, [normal, anomalous]
  prototype) / temperature on the patch grid, upsampled bilinearly
  (``align_corners=True``) to the map size, softmax over the two classes; the
  map is the **sum over stages** of the anomalous channel (values in [0, S]).
* **Loss:** per stage focal (gamma 2) on the two-class softmax plus binary Dice
  on the anomalous channel, summed over stages.
* **Few-shot map:** per stage min over a memory of the k normal images' raw
  stage tokens of (1 - cos), upsampled the same way, summed over stages and
  added to the zero-shot map.
* **Few-shot image score:** 0.5 * (text probability + normalised map max).
  ``transductive`` (the paper's script) min-max normalises the map maxima over
  all test images of the object: one image's score depends on the others.
  ``inductive`` (our default) divides the map max by a reference taken from
  the support images only (:func:`inductive_image_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from asebench.methods._clip.windows import embed_tokens

if TYPE_CHECKING:
    from open_clip.transformer import VisionTransformer

FOCAL_EPS = 1e-6  # log(p) floor; APRIL-GAN adds 1e-5 to p instead (a difference below 1e-5 in the loss)
DICE_SMOOTH = 1.0  # APRIL-GAN's BinaryDiceLoss smoothing


def default_stages(layers: int, count: int = 4) -> list[int]:
    """Blocks (1-based) at 1/4, 2/4, 3/4 and 4/4 of the tower: 6/12/18/24 of 24 blocks, 3/6/9/12 of 12."""
    return sorted({max(1, round(layers * i / count)) for i in range(1, count + 1)})


def check_stages(stages: Sequence[int], layers: int) -> list[int]:
    """The stages, validated against the tower's block count."""
    bad = [s for s in stages if not 1 <= s <= layers]
    if bad or len(set(stages)) != len(stages):
        raise ValueError(f"option stages {list(stages)}: give distinct block numbers between 1 and {layers}")
    return sorted(stages)


def stage_features(
    visual: VisionTransformer, images: torch.Tensor, stages: Sequence[int]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(projected class token (B, E), [raw patch tokens (B, L, width) after each stage block])."""
    x = embed_tokens(visual, images)
    taken = []
    wanted = set(stages)
    for index, block in enumerate(visual.transformer.resblocks, start=1):
        x = block(x)
        if index in wanted:
            taken.append(x[:, 1:])
    return visual.ln_post(x[:, 0]) @ visual.proj, taken


class StageAdapter(torch.nn.Module):
    """One linear map per stage into the text space (APRIL-GAN's ``LinearLayer``), outputs L2-normalised."""

    def __init__(self, width: int, embed_dim: int, num_stages: int) -> None:
        super().__init__()
        self.fc = torch.nn.ModuleList([torch.nn.Linear(width, embed_dim) for _ in range(num_stages)])

    def forward(self, tokens: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [F.normalize(fc(t), dim=-1) for fc, t in zip(self.fc, tokens, strict=True)]


def stage_probabilities(
    adapted: Sequence[torch.Tensor],
    prototypes: torch.Tensor,
    grid: tuple[int, int],
    size: int,
    temperature: float,
) -> torch.Tensor:
    """(B, S, 2, size, size) per-stage softmax over [normal, anomalous] of unit tokens vs unit prototypes (B, 2, E)."""
    out = []
    for tokens in adapted:
        logits = torch.einsum("ble,bce->bcl", tokens, prototypes.to(tokens.dtype)) / temperature
        logits = logits.reshape(tokens.shape[0], 2, *grid)
        up = F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=True)
        out.append(torch.softmax(up, dim=1))
    return torch.stack(out, dim=1)


def zero_shot_map(probabilities: torch.Tensor) -> torch.Tensor:
    """(B, size, size): the sum over stages of the anomalous channel."""
    return probabilities[:, :, 1].sum(dim=1)


def focal_loss(probabilities: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Mean over pixels of -(1 - p_t)^gamma log p_t; ``probabilities`` (B, 2, H, W), ``target`` (B, H, W) in {0, 1}."""
    p_true = torch.where(target > 0.5, probabilities[:, 1], probabilities[:, 0])
    return (-((1.0 - p_true) ** gamma) * torch.log(p_true.clamp_min(FOCAL_EPS))).mean()


def dice_loss(anomalous: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean over images of (2 sum(p y) + 1) / (sum p + sum y + 1); ``anomalous`` and ``target`` (B, H, W)."""
    p, y = anomalous.flatten(1), target.flatten(1).to(anomalous.dtype)
    dice = (2.0 * (p * y).sum(dim=1) + DICE_SMOOTH) / (p.sum(dim=1) + y.sum(dim=1) + DICE_SMOOTH)
    return 1.0 - dice.mean()


def april_gan_loss(probabilities: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Sum over stages of focal + Dice (``probabilities`` (B, S, 2, H, W))."""
    return sum(
        (
            focal_loss(probabilities[:, s], target, gamma) + dice_loss(probabilities[:, s, 1], target)
            for s in range(probabilities.shape[1])
        ),
        torch.zeros((), dtype=probabilities.dtype, device=probabilities.device),
    )


def memory_map(
    tokens: Sequence[torch.Tensor], memory: Sequence[torch.Tensor], grid: tuple[int, int], size: int
) -> torch.Tensor:
    """(B, size, size): sum over stages of min over the memory (M, width; unit rows) of 1 - cos, upsampled."""
    total: torch.Tensor | None = None
    for stage_tokens, stage_memory in zip(tokens, memory, strict=True):
        distance = (1.0 - F.normalize(stage_tokens.float(), dim=-1) @ stage_memory.T).min(dim=-1).values
        up = F.interpolate(distance.reshape(-1, 1, *grid), size=(size, size), mode="bilinear", align_corners=True)[:, 0]
        total = up if total is None else total + up
    if total is None:
        raise ValueError("no stages")
    return total


def transductive_image_scores(probability: np.ndarray, maxima: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """0.5 * (p + min-max of the map maxima over all test images of the same object) -- the paper's script."""
    scores = np.zeros(len(probability))
    for group in sorted(set(groups)):
        rows = np.asarray([i for i, g in enumerate(groups) if g == group])
        m = maxima[rows]
        span = float(m.max() - m.min())
        scores[rows] = 0.5 * (probability[rows] + ((m - m.min()) / span if span > 0 else np.zeros(len(rows))))
    return scores


def inductive_image_scores(probability: np.ndarray, maxima: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """0.5 * (p + map max / reference), the reference (per image: its object's) taken from the support set only."""
    return 0.5 * (probability + maxima / np.maximum(reference, np.finfo(np.float64).tiny))
