"""One way to turn what callers hold (a Sample, a path, an array, a PIL image) into pixels, bytes and a hash.

The image sha256 is the identity of an image in every annotation cache key:
for a file it is the sha256 of the file's bytes (what ``sha256sum`` prints,
so a hand-written JSONL text cache can be keyed by it), for an in-memory
array the sha256 of its shape, dtype and bytes (as in ``asebench.api.data``).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from asebench.api.data import Sample, file_sha256
from asebench.api.imaging import load_image

ImageLike = Sample | Image.Image | np.ndarray | Path | str


def to_pil(image: ImageLike, mode: str = "RGB") -> Image.Image:
    """A decoded PIL image in ``mode``, whatever the caller holds."""
    if isinstance(image, Image.Image):
        return image.convert(mode)
    if isinstance(image, Sample):
        return load_image(image, mode)
    item = _as_item(image)
    name = "<array>" if isinstance(item, np.ndarray) else str(item)
    return load_image(Sample(id=name, label="", image=item), mode)


def image_sha256(image: Sample | np.ndarray | Path | str) -> str:
    """Content hash of an image file or array (see the module docstring)."""
    item = image.image if isinstance(image, Sample) else _as_item(image)
    if isinstance(item, np.ndarray):
        return hashlib.sha256(
            repr((item.shape, str(item.dtype))).encode() + np.ascontiguousarray(item).tobytes()
        ).hexdigest()
    return file_sha256(Path(item))


def png_bytes(image: ImageLike) -> bytes:
    """PNG bytes for a VLM request: a PNG file is sent as stored, anything else is re-encoded losslessly."""
    item = image.image if isinstance(image, Sample) else image
    if isinstance(item, (Path, str)) and Path(item).suffix.lower() == ".png":
        return Path(item).read_bytes()
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def _as_item(image: np.ndarray | Path | str) -> np.ndarray | Path:
    return image if isinstance(image, np.ndarray) else Path(image)
