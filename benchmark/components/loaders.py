"""Turning split views into torch data loaders.

Kept out of the plugin modules so ``asebench list`` never imports torch.

A training set is read once per epoch, and decoding a full-size PNG plus
resizing it costs more than the rest of the input pipeline. An
:class:`ImageDataset` built with ``memoize=True`` therefore keeps each sample's
decoded and resized uint8 image (the output of the transform's leading
``ToImage`` and ``Resize``, which draw no random numbers) and runs only the
remaining steps per epoch: the random flips and colour jitter draw from
torch's global generator in the same number and order as before, so every
tensor is bit-identical to the unmemoized pipeline. The memo lives and dies
with the dataset (one cell) and is bounded by ``memo_limit_bytes``
(3 x size^2 bytes a sample: 455 images at 160 px are 35 MB); past it, samples
are simply decoded again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2 as T

from asebench.api.data import AugmentationPolicy, Sample
from asebench.api.imaging import load_image

# Applied to each decoded image before the model's transform (e.g. a seeded augmented view).
ImagePreparation = Callable[[Sample, Image.Image], Image.Image]

# Steps whose output depends on the input image alone (no random draws): exact types, not subclasses.
_DETERMINISTIC_STEPS: tuple[type[T.Transform], ...] = (T.ToImage, T.Resize)


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


def split_deterministic(transform: T.Compose) -> tuple[list[T.Transform], list[T.Transform]]:
    """The leading steps that draw no random numbers and see only the image, and the rest.

    Running the two lists one after the other (:func:`apply_steps`) is exactly
    running ``transform`` (``Compose`` only chains its steps), so the first
    part's output can be reused.
    """
    steps = list(transform.transforms)
    count = 0
    while count < len(steps) and type(steps[count]) in _DETERMINISTIC_STEPS:
        count += 1
    return steps[:count], steps[count:]


def apply_steps(steps: list[T.Transform], image: object) -> Any:
    """What ``T.Compose(steps)(image)`` returns, for any number of steps (Compose refuses none)."""
    for step in steps:
        image = step(image)
    return image


class ImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Samples -> (tensor, label) pairs; labels are -1 for unlabelled test data.

    ``memoize=True`` (for data read every epoch) keeps each sample's decoded,
    resized image; see the module docstring. It needs a transform that starts
    with ``ToImage`` and ``Resize`` (as :func:`build_transform`'s do) and no
    ``prepare``, whose result need not be the same on every call. Each
    DataLoader worker fills its own memo (pickled copies start empty), so with
    ``num_workers`` workers the bound is ``num_workers x memo_limit_bytes``.
    The memo is keyed by sample index: samples and transform are fixed for the
    dataset's life (size and interpolation with them).
    """

    memo_limit_bytes: int = 1 << 30  # per dataset and process; past it samples are decoded again

    def __init__(
        self,
        samples: tuple[Sample, ...],
        labels: np.ndarray | None,
        transform: T.Compose,
        prepare: ImagePreparation | None = None,
        memoize: bool = False,
    ) -> None:
        self.samples = samples
        self.labels = labels if labels is not None else np.full(len(samples), -1, dtype=np.int64)
        self.transform = transform
        self.prepare = prepare
        self.memoize = memoize
        self._fixed, self._rest = split_deterministic(transform) if memoize else ([], [])
        self._memo: dict[int, torch.Tensor] = {}
        self._memo_bytes = 0
        if memoize and prepare is not None:
            raise ValueError("memoize=True needs prepare=None: a preparation may differ between calls")
        if memoize and not (self._fixed and type(self._fixed[0]) is T.ToImage and T.Resize in map(type, self._fixed)):
            raise ValueError("memoize=True needs a transform that starts with ToImage and Resize (build_transform)")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self.memoize:
            return apply_steps(self._rest, self._resized(index)), int(self.labels[index])
        sample = self.samples[index]
        image = load_image(sample)
        if self.prepare is not None:
            image = self.prepare(sample, image)
        return self.transform(image), int(self.labels[index])

    def _resized(self, index: int) -> torch.Tensor:
        """The sample after the deterministic steps, from the memo when it is there."""
        cached = self._memo.get(index)
        if cached is not None:
            return cached
        resized: torch.Tensor = apply_steps(self._fixed, load_image(self.samples[index]))
        size = resized.element_size() * resized.nelement()
        if self._memo_bytes + size <= self.memo_limit_bytes:
            self._memo[index] = resized
            self._memo_bytes += size
        return resized

    def __getstate__(self) -> dict[str, object]:
        """Copies sent to worker processes start with an empty memo: nothing large crosses the pipe."""
        state = self.__dict__.copy()
        state["_memo"] = {}
        state["_memo_bytes"] = 0
        return state


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
