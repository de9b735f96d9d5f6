"""The dataset contract: what an adapter yields and what a method receives.

An adapter turns some storage layout into a list of :class:`Sample` objects and
declares its class names and which class is ``normal``. The runner derives the
tasks (multiclass, binary) and the splits from that list, so every method sees
exactly the same data for the same seed.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from asebench.api.errors import DatasetError
from asebench.api.problems import DataProblem, OnCorrupt

MetadataValue = float | int | str


@dataclass(frozen=True)
class Sample:
    """One labelled image.

    ``image`` is a file path or an ``HxW`` / ``HxWxC`` uint8 array; ``mask`` is
    an optional pixel mask of the same kind. ``metadata`` carries numbers or text
    that came with the image (for example the printed statistics of an AOI plot).
    """

    id: str
    label: str
    image: Path | np.ndarray
    mask: Path | np.ndarray | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)


class Task(str, Enum):
    """The two tasks every adapter supports."""

    MULTICLASS = "multiclass"
    BINARY = "binary"


BINARY_CLASS_NAMES: tuple[str, str] = ("normal", "defect")


class AdapterOptions(BaseModel):
    """Base for per-adapter options; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FileAdapterOptions(AdapterOptions):
    """Options of adapters that read image files: what an unreadable file or empty class folder does.

    ``error`` (default): loading fails with one error listing every problem.
    ``skip``: they are left out and listed in ``LoadedDataset.dropped`` (so in
    the fingerprint and the records); see :mod:`asebench.api.problems`.
    """

    on_corrupt: OnCorrupt = Field("error", description="error: fail listing every bad file; skip: leave them out")


@dataclass(frozen=True)
class AugmentationPolicy:
    """Which label-preserving augmentations make sense for a dataset.

    AOI scatter plots lose their meaning when flipped or rotated (direction of
    the drill offset is the signal); steel textures do not.
    """

    geometric: bool = False
    photometric: bool = True


class DatasetAdapter(ABC):
    """Base class of every dataset adapter.

    Subclasses set ``name``/``version``/``description``, may declare an
    ``Options`` model, and implement :meth:`load`. Example::

        @register_dataset("my-line")
        class MyLine(DatasetAdapter):
            description = "AOI images of line 3"
            def load(self) -> LoadedDataset:
                return LoadedDataset.build(self, samples, class_names, "ok")
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    augmentation: ClassVar[AugmentationPolicy] = AugmentationPolicy()
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions
    # Files beside the module that are part of the adapter's code identity, as for ``Method.code_files``.
    code_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: AdapterOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @classmethod
    def availability(cls, options: AdapterOptions) -> str | None:
        """Return why the dataset cannot be loaded here, or None when it can."""
        return None

    @abstractmethod
    def load(self) -> LoadedDataset:
        """Read the manifest (not necessarily the pixels) and return it."""


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset ready for splitting: samples, classes and a content fingerprint."""

    name: str
    version: str
    samples: tuple[Sample, ...]
    class_names: tuple[str, ...]
    normal_class: str | None
    fingerprint: str
    augmentation: AugmentationPolicy
    options: Mapping[str, Any]
    # the adapter class that loaded it, whose code is part of every cell's identity (None: built by hand)
    adapter_type: type[DatasetAdapter] | None = field(default=None, compare=False, repr=False)
    # files and class folders left out under ``on_corrupt: skip``, sorted by path; part of the fingerprint
    dropped: tuple[DataProblem, ...] = ()

    @classmethod
    def build(
        cls,
        adapter: DatasetAdapter,
        samples: Sequence[Sample],
        class_names: Sequence[str],
        normal_class: str | None,
        dropped: Sequence[DataProblem] = (),
    ) -> LoadedDataset:
        """Validate the manifest and fingerprint it.

        ``normal_class`` is None for datasets of defect types only (NEU-DET):
        they support the multiclass task but not the binary one. ``dropped``
        lists what ``on_corrupt: skip`` left out.
        """
        class_names = tuple(class_names)
        dropped = tuple(sorted(set(dropped)))
        validate_manifest(samples, class_names, normal_class, adapter.name)
        return cls(
            name=adapter.name,
            version=adapter.version,
            samples=tuple(samples),
            class_names=class_names,
            normal_class=normal_class,
            fingerprint=fingerprint_samples(samples, dropped),
            augmentation=adapter.augmentation,
            options=adapter.options.model_dump(mode="json"),
            adapter_type=type(adapter),
            dropped=dropped,
        )

    @property
    def tasks(self) -> tuple[Task, ...]:
        """Tasks this dataset supports: binary needs a normal class."""
        return (Task.MULTICLASS,) if self.normal_class is None else (Task.BINARY, Task.MULTICLASS)

    def labels(self, task: Task) -> np.ndarray:
        """Integer labels of every sample for ``task``."""
        return task_labels(self.samples, self.class_names, self.normal_class, task)

    def task_class_names(self, task: Task) -> tuple[str, ...]:
        """Class names in label order for ``task``: the dataset's own, or the two binary ones."""
        return self.class_names if task is Task.MULTICLASS else BINARY_CLASS_NAMES


def validate_manifest(
    samples: Sequence[Sample], class_names: tuple[str, ...], normal_class: str | None, source: str
) -> None:
    """Fail with one clear message on an inconsistent manifest."""
    if not samples:
        raise DatasetError(f"{source}: the dataset holds no samples")
    if len(set(class_names)) != len(class_names):
        raise DatasetError(f"{source}: duplicate class names in {list(class_names)}")
    if normal_class is not None and normal_class not in class_names:
        raise DatasetError(f"{source}: normal class {normal_class!r} is not one of {list(class_names)}")
    known = set(class_names)
    seen_ids: set[str] = set()
    counts = dict.fromkeys(class_names, 0)
    for sample in samples:
        if sample.label not in known:
            raise DatasetError(
                f"{source}: sample {sample.id!r} has unknown class {sample.label!r} "
                f"(known classes: {', '.join(class_names)})"
            )
        if sample.id in seen_ids:
            raise DatasetError(f"{source}: duplicate sample id {sample.id!r}")
        seen_ids.add(sample.id)
        counts[sample.label] += 1
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        raise DatasetError(f"{source}: class(es) with no samples: {', '.join(empty)}")


def task_labels(
    samples: Sequence[Sample], class_names: Sequence[str], normal_class: str | None, task: Task
) -> np.ndarray:
    """Map class names to integer labels; binary is 0 = normal, 1 = any defect."""
    if task is Task.BINARY:
        if normal_class is None:
            raise DatasetError("the binary task needs a dataset with a normal class")
        return np.array([0 if s.label == normal_class else 1 for s in samples], dtype=np.int64)
    index = {name: i for i, name in enumerate(class_names)}
    return np.array([index[s.label] for s in samples], dtype=np.int64)


def fingerprint_samples(samples: Sequence[Sample], dropped: Sequence[DataProblem] = ()) -> str:
    """sha256 over the sorted (id, label) manifest, every image/mask's bytes and what was dropped.

    The same files under the same ids give the same fingerprint on any machine;
    renaming, relabelling or editing one file changes it. Files left out by
    ``on_corrupt: skip`` are hashed by path and kind, so a run that skipped
    them never shares cells with one on the cleaned folder.
    """
    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda s: s.id):
        digest.update(f"{sample.id}\t{sample.label}\n".encode())
        for item in (sample.image, sample.mask):
            if item is not None:
                digest.update(_content_hash(item, sample.id).encode())
        if sample.metadata:
            for key in sorted(sample.metadata):
                digest.update(f"{key}={sample.metadata[key]!r};".encode())
    if dropped:  # nothing dropped: the fingerprint of every dataset before on_corrupt existed
        digest.update(b"dropped\n")
        for problem in sorted(set(dropped)):
            digest.update(problem.fingerprint_line().encode())
    return digest.hexdigest()


def _content_hash(item: Path | np.ndarray, sample_id: str) -> str:
    if isinstance(item, np.ndarray):
        return hashlib.sha256(
            repr((item.shape, str(item.dtype))).encode() + np.ascontiguousarray(item).tobytes()
        ).hexdigest()
    try:
        return file_sha256(Path(item))
    except OSError as exc:
        raise DatasetError(f"cannot read {item} (sample {sample_id!r}): {exc.strerror or exc}") from exc


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """sha256 of a file, read in chunks so large weights files stay out of memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def missing_root(root: Path) -> str | None:
    """Why a file-based dataset's root cannot be used, or None; adapters report it from ``availability``."""
    root = root.expanduser()
    return None if root.is_dir() else f"dataset directory not found: {root}"


def existing_root(root: Path) -> Path:
    """The expanded root, or a :class:`DatasetError` with :func:`missing_root`'s reason."""
    reason = missing_root(root)
    if reason:
        raise DatasetError(reason)
    return root.expanduser()
