"""``neu-det``: the NEU surface-defect database (hot-rolled steel, 6 classes x 300).

Expected layout (where to get it: ``docs/datasets.md``)::

    <root>/IMAGES/<class>_<n>.jpg      e.g. rolled-in_scale_12.jpg, pitted_surface_3.jpg

The class of an image is its file-name prefix up to the final ``_<n>``; the
sample id is the file stem. There is no normal class, so NEU-DET supports the
multiclass task only. ``ANNOTATIONS/`` (defect boxes) is not used.

The root is ``options.root`` when given, else (first match wins):

1. ``$ASEBENCH_NEU_DET_ROOT`` when set (then it is the only place looked in,
   so a wrong value is reported instead of silently falling back);
2. ``data/neu-det`` relative to the current working directory;
3. ``data/neu-det`` relative to the repository root.

File names with no known class prefix, classes with no image and unreadable
files are all found before failing and listed in one error. Option
``on_corrupt: skip`` leaves unreadable files out (a class left with none is
then no class; at least two must remain) and lists them in the records; with
``limit_per_class`` the limit is applied first, so a dropped file is not
replaced by the next one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from pydantic import PositiveInt

from asebench.api.data import (
    AdapterOptions,
    AugmentationPolicy,
    DatasetAdapter,
    FileAdapterOptions,
    LoadedDataset,
    Sample,
)
from asebench.api.errors import DatasetError
from asebench.api.imaging import DataCheck
from asebench.api.problems import EMPTY_CLASS, UNKNOWN_LABEL
from asebench.api.registry import register_dataset
from asebench.datasets.folder import IMAGE_EXTENSIONS

NEU_CLASSES: tuple[str, ...] = (
    "crazing",
    "inclusion",
    "patches",
    "pitted_surface",
    "rolled-in_scale",
    "scratches",
)
ENV_VAR = "ASEBENCH_NEU_DET_ROOT"
DEFAULT_RELATIVE = Path("data") / "neu-det"
IMAGES_DIR = "IMAGES"
_STEM = re.compile(r"^(?P<prefix>.+)_(?P<index>\d+)$")
_CLASSES = ", ".join(NEU_CLASSES)
_CLASSES_NOTE = f"NEU-DET file names are <class>_<n>.jpg with class one of {_CLASSES}"


class NeuDetOptions(FileAdapterOptions):
    """Options of the ``neu-det`` adapter (unknown keys are errors)."""

    root: Path | None = None
    limit_per_class: PositiveInt | None = None


@register_dataset("neu-det")
class NeuDet(DatasetAdapter):
    """NEU-DET steel surface defects: six defect types, no normal class."""

    name = "neu-det"
    description = "NEU-DET hot-rolled steel surface defects (6 classes x 300, multiclass only)"
    augmentation = AugmentationPolicy(geometric=True, photometric=True)
    Options = NeuDetOptions
    options: NeuDetOptions

    @classmethod
    def availability(cls, options: AdapterOptions) -> str | None:
        """Why NEU-DET cannot be loaded here (with how to fix it), or None."""
        images_dir, looked_in = resolve_images_dir(cast(NeuDetOptions, options).root)
        return None if images_dir is not None else not_found_message(looked_in)

    def load(self) -> LoadedDataset:
        """List the images, derive classes from file names, decode every image once."""
        images_dir, looked_in = resolve_images_dir(self.options.root)
        if images_dir is None:
            raise DatasetError(not_found_message(looked_in))
        check = DataCheck(f"NEU-DET at {images_dir}", images_dir, self.options.on_corrupt, self.name)
        by_class = group_by_class(image_files(images_dir), check)
        samples = check.readable(select_samples(by_class, images_dir, self.options.limit_per_class, check))
        check.finish()
        folders = {label: f"{label}_<n>.*" for label in NEU_CLASSES}
        class_names = check.keep_classes(samples, NEU_CLASSES, None, folders)
        return LoadedDataset.build(self, samples, class_names, None, check.dropped)


# -- locating the copy ------------------------------------------------------


def candidate_roots(explicit: Path | None = None) -> list[Path]:
    """The places looked in, in order (see the module docstring)."""
    if explicit is not None:
        return [explicit.expanduser()]
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        return [Path(configured).expanduser()]
    repo_root = Path(__file__).resolve().parents[1]
    candidates = [Path.cwd() / DEFAULT_RELATIVE, repo_root / DEFAULT_RELATIVE]
    unique: list[Path] = []
    for path in (c.resolve() for c in candidates):
        if path not in unique:
            unique.append(path)
    return unique


def resolve_images_dir(explicit: Path | None = None) -> tuple[Path | None, list[Path]]:
    """The images folder of the first candidate root that has one, and every root looked in."""
    looked_in = candidate_roots(explicit)
    for root in looked_in:
        images_dir = images_dir_of(root)
        if images_dir is not None:
            return images_dir, looked_in
    return None, looked_in


def images_dir_of(root: Path) -> Path | None:
    """``root/IMAGES``, or ``root`` itself when it directly holds the images."""
    nested = root / IMAGES_DIR
    if nested.is_dir():
        return nested
    if root.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in root.iterdir()):
        return root
    return None


def not_found_message(looked_in: Iterable[Path]) -> str:
    places = ", ".join(str(p) for p in looked_in)
    return f"NEU-DET not found (looked in {places}); set {ENV_VAR} or datasets options root (see docs/datasets.md)"


# -- reading the file names -------------------------------------------------


def image_files(images_dir: Path) -> list[Path]:
    """Visible image files of the images folder; other files (notes, thumbnails) are ignored."""
    return [
        p
        for p in sorted(images_dir.iterdir())
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]


def parse_name(path: Path) -> tuple[str, int]:
    """``rolled-in_scale_12.jpg`` -> (``rolled-in_scale``, 12); anything else names the file."""
    parsed = _parse(path)
    if parsed is None:
        raise DatasetError(
            f"NEU-DET: cannot tell the class of {path}: expected <class>_<n> with class one of {_CLASSES}"
        )
    return parsed


def _parse(path: Path) -> tuple[str, int] | None:
    match = _STEM.match(path.stem)
    if match is None or match["prefix"] not in NEU_CLASSES:
        return None
    return match["prefix"], int(match["index"])


def group_by_class(paths: Iterable[Path], check: DataCheck | None = None) -> dict[str, dict[int, Path]]:
    """Class -> index -> file; two files for one index (a_1.jpg, a_1.png, a_01.jpg) are an error.

    With ``check``, a file whose name gives no class is noted there (to be
    listed with the other problems) instead of failing at once.
    """
    by_class: dict[str, dict[int, Path]] = {name: {} for name in NEU_CLASSES}
    for path in paths:
        parsed = _parse(path)
        if parsed is None:
            if check is None:
                parse_name(path)  # raises, naming the file
                continue
            check.add(path, UNKNOWN_LABEL, "the file name is not <class>_<n>", note=_CLASSES_NOTE)
            continue
        label, index = parsed
        other = by_class[label].get(index)
        if other is not None:
            raise DatasetError(f"NEU-DET: {other} and {path} are both image {index} of class {label!r}")
        by_class[label][index] = path
    return by_class


def select_samples(
    by_class: dict[str, dict[int, Path]], images_dir: Path, limit_per_class: int | None, check: DataCheck | None = None
) -> list[Sample]:
    """Samples in class order then numeric index, at most ``limit_per_class`` per class.

    A class with no image is noted in ``check`` when given, else an error at once.
    """
    samples: list[Sample] = []
    for label in NEU_CLASSES:
        indices = sorted(by_class[label])
        if not indices:
            if check is None:
                raise DatasetError(f"NEU-DET: class {label!r} has no images in {images_dir}")
            check.add(f"{label}_<n>.*", EMPTY_CLASS, f"no image of class {label!r}")
            continue
        for index in indices[:limit_per_class]:
            path = by_class[label][index]
            samples.append(Sample(id=path.stem, label=label, image=path))
    return samples
