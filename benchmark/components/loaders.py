"""Turning split views into torch data loaders.

Kept out of the plugin modules so ``asebench list`` never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2 as T

from asebench.api.data import AugmentationPolicy, Sample
from asebench.api.imaging import load_image

# Applied to each decoded image before the model's transform (e.g. a seeded augmented view).
ImagePreparation = Callable[[Sample, Image.Image], Image.Image]


@dataclass(frozen=True)
class Preprocessing:
    """The exact input pipeline of a model; recorded with every result."""

    size: int
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def as_dict(self) -> dict[str, object]:
        return {"size": self.size, "interpolation": self.interpolation, "mean": list(self.mean), "std": list(self.std)}


def build_transform(pre: Preprocessing, augmentation: AugmentationPolicy | None) -> T.Compose:
    """Resize the whole image (no crop: the printed numbers may sit near the border)."""
    interpolation = T.InterpolationMode.BICUBIC if pre.interpolation == "bicubic" else T.InterpolationMode.BILINEAR
    steps: list[T.Transform] = [
        T.ToImage(),
        T.Resize((pre.size, pre.size), interpolation=interpolation, antialias=True),
    ]
    if augmentation is not None and augmentation.geometric:
        steps += [T.RandomHorizontalFlip(), T.RandomVerticalFlip()]
    if augmentation is not None and augmentation.photometric:
        steps.append(T.ColorJitter(brightness=0.1, contrast=0.1))
    steps += [T.ToDtype(torch.float32, scale=True), T.Normalize(pre.mean, pre.std)]
    return T.Compose(steps)


class ImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Samples -> (tensor, label) pairs; labels are -1 for unlabelled test data."""

    def __init__(
        self,
        samples: tuple[Sample, ...],
        labels: np.ndarray | None,
        transform: T.Compose,
        prepare: ImagePreparation | None = None,
    ) -> None:
        self.samples = samples
        self.labels = labels if labels is not None else np.full(len(samples), -1, dtype=np.int64)
        self.transform = transform
        self.prepare = prepare

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        image = load_image(sample)
        if self.prepare is not None:
            image = self.prepare(sample, image)
        return self.transform(image), int(self.labels[index])


def make_loader(
    dataset: ImageDataset,
    batch_size: int,
    device: str,
    num_workers: int,
    shuffle: bool = False,
    balanced: bool = False,
    seed: int = 0,
) -> DataLoader[tuple[torch.Tensor, int]]:
    """A loader with pinned memory on CUDA and an optional class-balanced sampler."""
    generator = torch.Generator().manual_seed(seed)
    sampler = None
    if balanced:
        counts = np.bincount(dataset.labels, minlength=int(dataset.labels.max()) + 1).astype(float)
        weights = 1.0 / counts[dataset.labels]
        sampler = WeightedRandomSampler(
            weights.tolist(), num_samples=len(dataset), replacement=True, generator=generator
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=device.startswith("cuda"),
        persistent_workers=num_workers > 0,
        drop_last=shuffle and len(dataset) % batch_size == 1,  # a 1-sample batch breaks BatchNorm
        generator=generator,
    )
