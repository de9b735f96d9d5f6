"""Reading images and masks with errors that name the file, and checking a dataset's files all at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from asebench.api.data import Sample
from asebench.api.errors import DatasetError
from asebench.api.problems import (
    CORRUPT,
    EMPTY_CLASS,
    EMPTY_FILE,
    MISSING,
    NOT_AN_IMAGE,
    DataProblem,
    OnCorrupt,
    problems_message,
)

POOL_FROM = 64  # samples from which decoding runs on a thread pool


def load_image(sample: Sample, mode: str = "RGB") -> Image.Image:
    """Return the sample's image as a fully decoded PIL image in ``mode``."""
    return _to_pil(sample.image, sample.id, mode)


def load_mask(sample: Sample) -> np.ndarray | None:
    """Return the sample's mask as a boolean array, or None when it has none."""
    if sample.mask is None:
        return None
    return np.asarray(_to_pil(sample.mask, sample.id, "L")) > 0


def verify_images(
    samples: Iterable[Sample], workers: int = 8, source: str = "dataset", root: Path | None = None
) -> None:
    """Decode every image and mask once, so a corrupt file fails before any training.

    Every unreadable file is found before failing, and the one
    :class:`DatasetError` lists them all, sorted by path (see :class:`DataCheck`).
    """
    check = DataCheck(source, root)
    check.readable(samples, workers)
    check.finish()


class DataCheck:
    """The problems found while loading one dataset, so that loading fails once, naming them all.

    An adapter notes what its scan finds (:meth:`add`: empty class folders,
    unknown labels), decodes its samples (:meth:`readable`), then calls
    :meth:`finish`: it raises one :class:`DatasetError` listing every problem,
    or, under ``on_corrupt: skip``, returns the files and folders left out.
    Paths are shown relative to ``root`` (absolute when outside it).
    """

    def __init__(
        self, source: str, root: Path | None = None, on_corrupt: OnCorrupt | None = None, dataset: str = ""
    ) -> None:
        self.source = source
        self.root = root
        self.on_corrupt = on_corrupt  # None: the adapter has no such option (no hint names it)
        self.dataset = dataset  # the registered name, for the hint's run-config line
        self.problems: list[DataProblem] = []
        self.notes: list[str] = []

    @property
    def skipping(self) -> bool:
        """Whether unreadable files and empty classes are left out instead of failing."""
        return self.on_corrupt == "skip"

    def where(self, path: Path | str, folder: bool = False) -> str:
        """``path`` as listed: relative to the root with ``/``, a folder ending in ``/``; text stays as it is."""
        if isinstance(path, str):
            return path
        text = path.relative_to(self.root).as_posix() if self.root and path.is_relative_to(self.root) else str(path)
        return f"{text}/" if folder else text

    def add(self, path: Path | str, kind: str, detail: str = "", *, folder: bool = False, note: str = "") -> None:
        """Note one problem; ``note`` is a line printed once under the list (such as the known classes)."""
        self.problems.append(DataProblem(self.where(path, folder), kind, detail))
        if note:
            self.notes.append(note)

    def readable(self, samples: Iterable[Sample], workers: int = 8) -> list[Sample]:
        """Decode every image and mask once; note each unreadable file and return the samples whose files all read.

        Large sets are decoded on a thread pool (PIL decodes without the GIL);
        the problems are collected in sample order either way.
        """
        samples = list(samples)
        if len(samples) < POOL_FROM:
            found = [_file_problems(sample) for sample in samples]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                found = list(pool.map(_file_problems, samples))
        kept = []
        for sample, problems in zip(samples, found, strict=True):
            for path, kind, detail in problems:
                self.add(path, kind, detail)
            if not problems:
                kept.append(sample)
        return kept

    def finish(self) -> tuple[DataProblem, ...]:
        """Raise one error listing every problem (under skip: those skip does not cover); else what was dropped."""
        blocking = [p for p in self.problems if not (self.skipping and p.skippable)]
        if blocking:
            raise DatasetError(problems_message(self.source, blocking, self.on_corrupt, self.notes, self.dataset))
        return self.dropped

    @property
    def dropped(self) -> tuple[DataProblem, ...]:
        """What ``skip`` left out, sorted by path (nothing unless skipping)."""
        return tuple(sorted(set(self.problems))) if self.skipping else ()

    def keep_classes(
        self,
        samples: Sequence[Sample],
        class_names: Sequence[str],
        normal_class: str | None,
        folders: Mapping[str, Path | str],
    ) -> list[str]:
        """The classes that still have samples after :meth:`finish` dropped files.

        Under skip a class with no readable image left is left out and listed
        (``folders`` names where its images were); it is an error when that
        class is the normal one (the binary task would vanish unannounced) or
        when fewer than two classes are left.
        """
        present = {sample.label for sample in samples}
        kept = [name for name in class_names if name in present]
        if not self.skipping or len(kept) == len(class_names):
            return list(class_names)
        listed = {p.path for p in self.problems if p.kind == EMPTY_CLASS}
        for name in class_names:
            if name not in present and self.where(folders[name], folder=True) not in listed:
                self.add(folders[name], EMPTY_CLASS, "every image in it was unreadable", folder=True)
        if normal_class is not None and normal_class not in present:
            raise DatasetError(
                f"{self.source}: the normal class {normal_class!r} has no readable images left "
                f"(on_corrupt: skip dropped them); fix its files"
            )
        if len(kept) < 2:
            raise DatasetError(
                f"{self.source}: on_corrupt: skip leaves {len(kept)} class(es) with readable images "
                f"({', '.join(kept) or 'none'}); at least 2 are needed"
            )
        return kept


def file_problem(path: Path, mode: str = "RGB") -> tuple[str, str] | None:
    """Why ``path`` cannot be read as an image, as (kind, detail); None when it decodes."""
    try:
        if path.stat().st_size == 0:
            return EMPTY_FILE, "0 bytes"
        _open(path, mode)
    except FileNotFoundError:
        return MISSING, "not found"
    except UnidentifiedImageError:
        return NOT_AN_IMAGE, "no image format recognised"
    except (OSError, SyntaxError, ValueError) as exc:
        return CORRUPT, (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))
    return None


def _file_problems(sample: Sample) -> list[tuple[Path, str, str]]:
    """Each unreadable file of one sample (image, then mask); a malformed in-memory array raises at once."""
    found = []
    for item, mode in ((sample.image, "RGB"), (sample.mask, "L")):
        if item is None:
            continue
        if isinstance(item, np.ndarray):
            _to_pil(item, sample.id, mode)  # an adapter's bug, not a bad file: never skipped
            continue
        problem = file_problem(Path(item), mode)
        if problem is not None:
            found.append((Path(item), *problem))
    return found


def _open(path: Path, mode: str) -> Image.Image:
    opened = Image.open(path)
    with opened:  # not ``as``: Pillow's Image.__enter__ is untyped
        opened.load()
        return opened.convert(mode)


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
        return _open(path, mode)
    except FileNotFoundError as exc:
        raise DatasetError(f"image file not found: {path} (sample {sample_id!r})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"corrupt or truncated image file: {path} (sample {sample_id!r}): {exc}") from exc
