"""Running the frozen tower for ``april-gan``: training batches, the k-shot support statistics, test scoring.

Every function takes the fitted plugin (its bundle, visual tower, stages,
adapter, prototypes) so the plugin module stays readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from asebench.api.data import Sample
from asebench.api.imaging import load_mask
from asebench.methods._aprilgan.core import (
    inductive_image_scores,
    memory_map,
    stage_features,
    stage_probabilities,
    zero_shot_map,
)


def extract(method: Any, samples: Sequence[Sample]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(projected CLS (N, E), [raw stage tokens (N, L, width)]) of ``samples`` in order, float32, no grad."""
    context = method.context
    cuda_amp = bool(context.amp and str(context.device).startswith("cuda"))
    images_cls, per_stage = [], []
    with torch.no_grad():
        for images, _ in method.bundle.loader(samples, method.options.batch_size, context):
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=cuda_amp):
                cls, tokens = stage_features(method.visual, images.to(context.device), method.stages)
            images_cls.append(cls.float())
            per_stage.append([t.float() for t in tokens])
    stages = len(method.stages)
    return torch.cat(images_cls), [torch.cat([b[s] for b in per_stage]) for s in range(stages)]


def mask_tensor(sample: Sample, size: int) -> torch.Tensor:
    """The sample's mask at (size, size) by nearest-neighbour sampling, 1 = defect; zeros without a mask."""
    mask = load_mask(sample)
    if mask is None:
        return torch.zeros(size, size, dtype=torch.bool)
    from PIL import Image

    resized = Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)
    return torch.from_numpy(np.asarray(resized) > 127)


class TrainingFeatures:
    """Training rows for the adapter: stage tokens (held in memory when they fit ``budget_mb``), prototypes, masks."""

    def __init__(self, method: Any, samples: Sequence[Sample], prototypes: torch.Tensor, budget_mb: int) -> None:
        self.method = method
        self.samples = list(samples)
        self.prototypes = prototypes
        self.masks = torch.stack([mask_tensor(s, method.size) for s in self.samples])
        rows, cols = method.grid
        width = int(method.visual.transformer.width)
        needed = len(self.samples) * rows * cols * width * len(method.stages) * 4
        self.held = needed <= budget_mb * 2**20
        self.tokens: list[torch.Tensor] | None = extract(method, self.samples)[1] if self.held else None

    def fetch(self, rows: list[int]) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        device = self.method.context.device
        if self.tokens is not None:
            tokens = [t[rows] for t in self.tokens]
        else:
            tokens = extract(self.method, [self.samples[i] for i in rows])[1]
        return [t.to(device) for t in tokens], self.prototypes[rows].to(device), self.masks[rows].to(device)


def cls_probability(cls: torch.Tensor, prototypes: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(cos(CLS, [normal, anomalous])/tau)[anomalous] for CLS (B, E) and per-image prototypes (B, 2, E)."""
    logits = torch.einsum("be,bce->bc", F.normalize(cls.float(), dim=-1), prototypes.float()) / temperature
    return torch.softmax(logits, dim=-1)[:, 1]


def zero_shot_part(
    method: Any, cls: torch.Tensor, tokens: list[torch.Tensor], objects: Sequence[str], size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(anomalous probability of the CLS (B,), zero-shot map (B, size, size))."""
    device = method.context.device
    prototypes = torch.stack([method.states.by_object[o] for o in objects]).to(device)
    temperature = method.options.temperature
    with torch.no_grad():
        probabilities = stage_probabilities(
            method.adapter([t.to(device) for t in tokens]), prototypes, method.grid, size, temperature
        )
        return cls_probability(cls.to(device), prototypes, temperature), zero_shot_map(probabilities)


def support_statistics(method: Any, chosen: Sequence[Sample], obj: str) -> tuple[list[torch.Tensor], float, np.ndarray]:
    """(per-stage unit memory (k*L, width), the inductive reference map max, the support images' scores).

    Each support image is scored against the memory of the *other* k - 1
    images (all k when k = 1, where its own patches make the memory part 0):
    the reference is the mean of their map maxima.
    """
    cls, tokens = extract(method, chosen)
    width = tokens[0].shape[-1]
    device = method.context.device
    memory = [F.normalize(t.reshape(-1, width), dim=-1).to(device) for t in tokens]
    size = method.options.map_size or method.size
    probability, zero = zero_shot_part(method, cls, tokens, [obj] * len(chosen), size)
    k = len(chosen)
    maxima = []
    with torch.no_grad():
        for i in range(k):
            keep = [j for j in range(k) if j != i] if k > 1 else [0]
            bank = [F.normalize(t[keep].reshape(-1, width), dim=-1).to(device) for t in tokens]
            few = memory_map([t[i : i + 1].to(device) for t in tokens], bank, method.grid, size)
            maxima.append(float((zero[i] + few[0]).max()))
    reference = float(np.mean(maxima))
    scores = inductive_image_scores(
        probability.double().cpu().numpy(), np.asarray(maxima), np.full(k, reference, dtype=np.float64)
    )
    return memory, reference, scores


def score_batches(
    method: Any, samples: Sequence[Sample], objects: Sequence[str], with_maps: bool, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(CLS anomalous probability (N,), map maxima (N,), maps (N, S, S) or None) in sample order."""
    context = method.context
    options = method.options
    size = options.map_size or method.size
    cuda_amp = bool(context.amp and str(context.device).startswith("cuda"))
    probability, maxima, maps = [], [], []
    loader = method.bundle.loader(samples, options.batch_size, context)
    offset = 0
    with torch.no_grad():
        for step, (images, _) in enumerate(loader, start=1):
            batch_objects = list(objects[offset : offset + len(images)])
            offset += len(images)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=cuda_amp):
                cls, tokens = stage_features(method.visual, images.to(context.device), method.stages)
            tokens = [t.float() for t in tokens]
            p, amap = zero_shot_part(method, cls, tokens, batch_objects, size)
            if options.k > 0:
                for obj in sorted(set(batch_objects)):
                    rows = [i for i, o in enumerate(batch_objects) if o == obj]
                    amap[rows] += memory_map([t[rows] for t in tokens], method.memory[obj], method.grid, size)
            probability.append(p.double().cpu().numpy())
            maxima.append(amap.flatten(1).max(dim=1).values.double().cpu().numpy())
            if with_maps:
                maps.append(amap.cpu().numpy().astype(np.float32))
            context.progress(what, step, len(loader))
    return (
        np.concatenate(probability) if probability else np.zeros(0),
        np.concatenate(maxima) if maxima else np.zeros(0),
        (np.concatenate(maps) if maps else np.zeros((0, size, size), np.float32)) if with_maps else None,
    )
