"""Reading images and masks with errors that name the file."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from asebench.api.data import Sample
from asebench.api.errors import DatasetError


def load_image(sample: Sample, mode: str = "RGB") -> Image.Image:
    """Return the sample's image as a fully decoded PIL image in ``mode``."""
    return _to_pil(sample.image, sample.id, mode)


def load_mask(sample: Sample) -> np.ndarray | None:
    """Return the sample's mask as a boolean array, or None when it has none."""
    if sample.mask is None:
        return None
    return np.asarray(_to_pil(sample.mask, sample.id, "L")) > 0


def verify_images(samples: Iterable[Sample], workers: int = 8) -> None:
    """Decode every image and mask once, so a corrupt file fails before any training.

    Large sets are decoded on a thread pool (PIL decodes without the GIL);
    errors still surface in sample order, so the same corrupt file is always
    the one reported.
    """
    samples = list(samples)
    if len(samples) < 64:
        for sample in samples:
            _verify_one(sample)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(_verify_one, samples):
            pass


def _verify_one(sample: Sample) -> None:
    load_image(sample)
    load_mask(sample)


def _to_pil(item: Path | np.ndarray, sample_id: str, mode: str) -> Image.Image:
    if isinstance(item, np.ndarray):
        if item.ndim == 3 and item.shape[2] == 1:
            item = item[:, :, 0]
        if item.dtype != np.uint8 or item.ndim not in (2, 3) or (item.ndim == 3 and item.shape[2] not in (3, 4)):
            raise DatasetError(
                f"sample {sample_id!r}: in-memory image must be a uint8 HxW, HxWx1, HxWx3 or HxWx4 array, "
                f"got {item.dtype} with shape {item.shape}"
            )
        return Image.fromarray(item).convert(mode)
    path = Path(item)
    try:
        opened = Image.open(path)
        with opened:  # not ``as``: Pillow's Image.__enter__ is untyped
            opened.load()
            return opened.convert(mode)
    except FileNotFoundError as exc:
        raise DatasetError(f"image file not found: {path} (sample {sample_id!r})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"corrupt or truncated image file: {path} (sample {sample_id!r}): {exc}") from exc
