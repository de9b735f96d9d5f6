"""``folder``: a generic layout with one sub-directory of images per class.

Layout::

    root/
      good/            img_001.png ...        (a class named normal/good is the normal class)
      scratch/         img_007.png  img_007_mask.png   (mask beside its image)
      metadata.csv     optional: id,<any column>...

- Image files are ``.png .jpg .jpeg .bmp .tif .tiff`` (any case) directly inside
  a class folder; sub-folders of a class folder, hidden files and other files
  are ignored, as are plain files in ``root`` itself.
- ``<stem><mask_suffix>.<ext>`` beside ``<stem>.<ext>`` is that image's pixel
  mask, not a sample. ``mask_suffix=""`` turns mask detection off.
- Sample ids are the path relative to ``root`` without extension, with forward
  slashes (``scratch/img_007``): stable across machines and re-orderings.
- The metadata CSV has an ``id`` column holding either the sample id
  (``scratch/img_007``) or the image's relative path (``scratch/img_007.png``).
  An optional ``class`` column is checked against the folder. Every other
  column becomes ``Sample.metadata``: finite numbers as ``float``, anything
  else as text; empty cells are left out. Images without a row get no metadata.

Every bad input (missing root, empty class, corrupt image, bad CSV) raises a
:class:`~asebench.api.errors.DatasetError` that names the file or option at fault.
Unreadable files (not an image, empty, truncated), empty class folders and
unknown classes in the CSV are all found before failing and listed in one
error (:mod:`asebench.api.problems`). Option ``on_corrupt: skip`` leaves the
unreadable files out instead, and a class folder with no readable image is
then no class; it stays an error when that is the normal class or fewer than
two classes are left. What was left out is listed in the records and is part
of the fingerprint.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from asebench.api.data import (
    AdapterOptions,
    AugmentationPolicy,
    DatasetAdapter,
    FileAdapterOptions,
    LoadedDataset,
    MetadataValue,
    Sample,
    existing_root,
    missing_root,
)
from asebench.api.errors import DatasetError
from asebench.api.imaging import DataCheck
from asebench.api.problems import EMPTY_CLASS, UNKNOWN_LABEL
from asebench.api.registry import register_dataset

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
NORMAL_CLASS_NAMES = ("normal", "good")
DEFAULT_METADATA_CSV = "metadata.csv"
ID_COLUMN = "id"
CLASS_COLUMN = "class"


class FolderOptions(FileAdapterOptions):
    """Options of the ``folder`` adapter (unknown keys are errors)."""

    root: Path
    normal_class: str | None = None
    class_names: list[str] | None = None
    mask_suffix: str = "_mask"
    metadata_csv: Path | None = None
    augmentation_geometric: bool = False


@dataclass(frozen=True)
class _ImageFile:
    """One image found on disk, before metadata is attached."""

    id: str
    label: str
    path: Path
    mask: Path | None


@register_dataset("folder")
class FolderDataset(DatasetAdapter):
    """One sub-directory of images per class under ``root``."""

    name = "folder"
    description = "Generic layout: root/<class>/<image> with optional masks and metadata.csv"
    Options = FolderOptions
    options: FolderOptions

    @classmethod
    def availability(cls, options: AdapterOptions) -> str | None:
        """Say why the dataset cannot load (missing root), so `asebench list` can show it."""
        return missing_root(cast(FolderOptions, options).root)

    def load(self) -> LoadedDataset:
        """Scan the folders, attach masks and metadata, decode every image once; fail once, listing every problem."""
        opts = self.options
        root = existing_root(opts.root)
        check = DataCheck(f"folder dataset {root}", root, opts.on_corrupt, self.name)
        class_dirs = find_class_dirs(root)
        class_names = order_classes(list(class_dirs), opts.class_names, root)
        normal_class = pick_normal_class(class_names, opts.normal_class, root)
        files: list[_ImageFile] = []
        for name in class_names:
            found = scan_class_dir(class_dirs[name], name, root, opts.mask_suffix)
            if not found:
                check.add(class_dirs[name], EMPTY_CLASS, "no image files in its folder", folder=True)
            files.extend(found)
        metadata = self._metadata(root, files, class_names, check)
        samples = [
            Sample(id=f.id, label=f.label, image=f.path, mask=f.mask, metadata=metadata.get(f.id, {})) for f in files
        ]
        samples = check.readable(samples)
        check.finish()
        class_names = check.keep_classes(samples, class_names, normal_class, class_dirs)
        loaded = LoadedDataset.build(self, samples, class_names, normal_class, check.dropped)
        policy = AugmentationPolicy(geometric=opts.augmentation_geometric)
        return dataclasses.replace(loaded, augmentation=policy)

    def _metadata(
        self, root: Path, files: Sequence[_ImageFile], class_names: Sequence[str], check: DataCheck
    ) -> dict[str, dict[str, MetadataValue]]:
        """Read the configured CSV, or ``root/metadata.csv`` when present; else none."""
        csv_path = self.options.metadata_csv
        if csv_path is None:
            default = root / DEFAULT_METADATA_CSV
            if not default.is_file():
                return {}
            csv_path = default
        csv_path = csv_path.expanduser()
        if not csv_path.is_file():
            raise DatasetError(f"metadata CSV not found: {csv_path} (option metadata_csv)")
        return read_metadata_csv(csv_path, files, root, class_names, check)


# -- scanning ---------------------------------------------------------------


def find_class_dirs(root: Path) -> dict[str, Path]:
    """Every visible sub-directory of ``root``, by name, in sorted order."""
    dirs = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    if not dirs:
        raise DatasetError(f"no class folders in {root}: expected one sub-directory of images per class")
    return dirs


def order_classes(found: Sequence[str], requested: Sequence[str] | None, root: Path) -> list[str]:
    """Apply ``class_names`` (which fixes the order) or fall back to sorted folder names.

    ``class_names`` must name exactly the class folders: silently dropping a
    folder, or listing one that is not there, would hide a data mistake.
    """
    if requested is None:
        return sorted(found)
    duplicates = sorted({name for name in requested if list(requested).count(name) > 1})
    if duplicates:
        raise DatasetError(f"option class_names lists {', '.join(duplicates)} more than once")
    missing = [name for name in requested if name not in found]
    if missing:
        raise DatasetError(
            f"option class_names: no folder {', '.join(repr(m) for m in missing)} in {root} "
            f"(folders: {', '.join(sorted(found))})"
        )
    extra = sorted(set(found) - set(requested))
    if extra:
        raise DatasetError(
            f"folder(s) {', '.join(repr(e) for e in extra)} in {root} are not in option class_names "
            f"{list(requested)}; add them or move them out of the dataset directory"
        )
    return list(requested)


def pick_normal_class(class_names: Sequence[str], requested: str | None, root: Path) -> str | None:
    """The ``normal_class`` option, else a folder named normal/good, else None (defect types only)."""
    if requested is not None:
        if requested not in class_names:
            raise DatasetError(
                f"option normal_class: {requested!r} is not a class folder in {root} "
                f"(classes: {', '.join(class_names)})"
            )
        return requested
    candidates = [name for name in class_names if name.lower() in NORMAL_CLASS_NAMES]
    if len(candidates) > 1:
        raise DatasetError(
            f"{root} has several normal-looking folders ({', '.join(candidates)}); "
            f"set option normal_class to choose one"
        )
    return candidates[0] if candidates else None


def scan_class_dir(class_dir: Path, label: str, root: Path, mask_suffix: str) -> list[_ImageFile]:
    """The images of one class folder with their masks, sorted by file name (none: an empty class folder)."""
    paths = [
        p
        for p in sorted(class_dir.iterdir())
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    masks, images = _split_masks(paths, mask_suffix)
    by_stem = _index_by_stem(images)
    mask_of = _match_masks(masks, by_stem, mask_suffix)
    return [
        _ImageFile(id=_relative_id(path, root), label=label, path=path, mask=mask_of.get(stem))
        for stem, path in by_stem.items()
    ]


def _split_masks(paths: Iterable[Path], mask_suffix: str) -> tuple[list[Path], list[Path]]:
    masks: list[Path] = []
    images: list[Path] = []
    for path in paths:
        is_mask = bool(mask_suffix) and path.stem.endswith(mask_suffix) and path.stem != mask_suffix
        (masks if is_mask else images).append(path)
    return masks, images


def _index_by_stem(images: Iterable[Path]) -> dict[str, Path]:
    """Map stem -> image; two files with one stem (a.png, a.jpg) would share a sample id."""
    by_stem: dict[str, Path] = {}
    for path in images:
        if path.stem in by_stem:
            raise DatasetError(
                f"{by_stem[path.stem]} and {path} would share the sample id {path.stem!r}; rename or remove one of them"
            )
        by_stem[path.stem] = path
    return by_stem


def _match_masks(masks: Iterable[Path], by_stem: Mapping[str, Path], mask_suffix: str) -> dict[str, Path]:
    """Map image stem -> mask; a mask with no image is an error, not a silent drop."""
    mask_of: dict[str, Path] = {}
    for mask in masks:
        stem = mask.stem[: -len(mask_suffix)]
        if stem not in by_stem:
            raise DatasetError(
                f"mask file {mask} has no image {stem}.* beside it "
                f"(set option mask_suffix if {mask_suffix!r} is part of ordinary file names)"
            )
        if stem in mask_of:
            raise DatasetError(f"image {by_stem[stem]} has two masks: {mask_of[stem]} and {mask}")
        mask_of[stem] = mask
    return mask_of


def _relative_id(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


# -- metadata CSV -----------------------------------------------------------


def read_metadata_csv(
    csv_path: Path,
    files: Sequence[_ImageFile],
    root: Path,
    class_names: Sequence[str] | None = None,
    check: DataCheck | None = None,
) -> dict[str, dict[str, MetadataValue]]:
    """Per-sample metadata from ``csv_path``, keyed by sample id (see the module docstring).

    With ``check``, a row naming an unknown class is noted there (to be listed
    with the other problems) instead of failing at once.
    """
    rows = _read_csv_rows(csv_path)
    lookup = _id_lookup(files)
    label_of = {f.id: f.label for f in files}
    known = sorted(class_names if class_names is not None else {f.label for f in files})
    metadata: dict[str, dict[str, MetadataValue]] = {}
    for line, row in rows:
        raw_id = (row.get(ID_COLUMN) or "").strip()
        where = f"{csv_path}: row {line} (id {raw_id!r})"
        sample_id = lookup.get(_normalise_id(raw_id))
        if sample_id is None:
            raise DatasetError(f"{where}: the id matches no image under {root}")
        if sample_id in metadata:
            raise DatasetError(f"{where}: a second row for sample {sample_id!r}")
        unknown = _check_class(row.get(CLASS_COLUMN), label_of[sample_id], known, where, check is None)
        if unknown is not None and check is not None:
            check.add(
                f"{check.where(csv_path)} row {line} (id {raw_id!r})",
                UNKNOWN_LABEL,
                f"class {unknown!r}",
                note=f"known classes: {', '.join(known)}",
            )
        metadata[sample_id] = {
            key: parse_metadata_value(value)
            for key, value in row.items()
            if key not in (ID_COLUMN, CLASS_COLUMN) and value is not None and value.strip()
        }
    return metadata


def _read_csv_rows(csv_path: Path) -> list[tuple[int, dict[str, str]]]:
    """All data rows with their line numbers; any read or format problem names the file."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in (reader.fieldnames or [])]
            if ID_COLUMN not in header:
                raise DatasetError(
                    f"metadata CSV {csv_path} has no {ID_COLUMN!r} column (columns: {', '.join(header) or 'none'})"
                )
            reader.fieldnames = header
            rows = []
            for row in reader:
                if None in row:
                    raise DatasetError(f"{csv_path}: row {reader.line_num} has more fields than the header")
                rows.append((reader.line_num, row))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read metadata CSV {csv_path}: {exc}") from exc


def _id_lookup(files: Iterable[_ImageFile]) -> dict[str, str]:
    """Both accepted spellings of an id (with and without extension) -> sample id."""
    lookup: dict[str, str] = {}
    for f in files:
        lookup[f.id] = f.id
        lookup[f"{f.id}{f.path.suffix}"] = f.id
    return lookup


def _normalise_id(raw: str) -> str:
    text = raw.replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


def _check_class(value: str | None, folder_class: str, known: Sequence[str], where: str, strict: bool) -> str | None:
    """The optional class column must be a known class and agree with the folder.

    An unknown class raises when ``strict``, else it is returned for the caller to note.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value not in known:
        if strict:
            raise DatasetError(f"{where}: unknown class {value!r} (known classes: {', '.join(known)})")
        return value
    if value != folder_class:
        raise DatasetError(f"{where}: class {value!r} disagrees with the image's folder {folder_class!r}")
    return None


def parse_metadata_value(text: str) -> MetadataValue:
    """A finite number becomes ``float``; anything else (including nan/inf) stays text."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text
