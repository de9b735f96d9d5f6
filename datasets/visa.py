"""``visa``: the VisA dataset through its official split CSV, with pixel masks.

Layout (the archive as released by amazon-science/spot-diff)::

    root/split_csv/1cls.csv         object,split,label,image,mask
    root/<object>/Data/Images/Normal/0000.JPG
    root/<object>/Data/Images/Anomaly/000.JPG
    root/<object>/Data/Masks/Anomaly/000.png

The adapter reads the *official one-class split file* ``split_csv/1cls.csv``
(option ``split_csv``, relative to ``root`` unless absolute), the one the
WinCLIP / APRIL-GAN / AnomalyCLIP numbers use. Its rows look like
``candle,train,normal,candle/Data/Images/Normal/0836.JPG,`` and
``candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png``;
paths are relative to ``root``. Every ``anomaly`` row must name an existing
mask; ``normal`` rows have none.

Classes: ``normal`` and ``anomaly``. The split file has no defect types, so
the multiclass task equals the binary one on VisA (its per-object
``image_anno.csv`` holds free-text, multi-defect descriptions, not a clean
type label, and is not used).

Without the split file (option ``split_csv`` left unset and no
``split_csv/1cls.csv`` under ``root``) the adapter draws a **seeded split** in
the one-class CSV's proportions from the folders themselves: per object, the
images of ``Data/Images/Normal`` are shuffled with
``numpy.random.default_rng([split_seed, *object name bytes])`` and
:data:`TEST_NORMAL_FRACTION` (10 %, at least one) of them go to ``test``, the
rest to ``train``; every ``Data/Images/Anomaly`` image is ``test``, its mask
``Data/Masks/Anomaly/<stem>.png``. The split is then part of the samples'
metadata and so of the fingerprint (another ``split_seed``, another
fingerprint); numbers on it are not comparable with published ones. A
``split_csv`` set explicitly must exist.

``category`` selects the ``object`` column: ``None`` (default) loads the only
object in the file, or all when there are several; ``"all"`` asks for all; a
name loads that object. Metadata per sample: ``category`` (the object) and
``official_split``.

Unknown labels, missing or unreadable images and masks are all found before
failing and listed in one error. Option ``on_corrupt: skip`` leaves out the
missing and unreadable files (an anomaly image whose mask is missing or
unreadable goes too) and lists them in the records; unknown labels stay errors.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import cast

import numpy as np
from pydantic import Field

from asebench.api.data import (
    AdapterOptions,
    DatasetAdapter,
    FileAdapterOptions,
    LoadedDataset,
    Sample,
    existing_root,
    missing_root,
)
from asebench.api.errors import DatasetError
from asebench.api.imaging import DataCheck
from asebench.api.problems import MISSING, UNKNOWN_LABEL
from asebench.api.registry import register_dataset

NORMAL = "normal"
ANOMALY = "anomaly"
COLUMNS = ("object", "split", "label", "image", "mask")
DEFAULT_SPLIT_CSV = Path("split_csv/1cls.csv")
TEST_NORMAL_FRACTION = 0.1  # the one-class split's share of normal images in test (VisA: 962 of 9,621)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class VisAOptions(FileAdapterOptions):
    """Options of the ``visa`` adapter (unknown keys are errors)."""

    root: Path
    category: str | None = None
    split_csv: Path | None = None  # None: split_csv/1cls.csv when present, else the seeded split
    split_seed: int = Field(0, ge=0, description="the seeded split only (no split CSV)")


@register_dataset("visa")
class VisA(DatasetAdapter):
    """VisA: rows of split_csv/1cls.csv (object, split, normal/anomaly, image, mask)."""

    name = "visa"
    description = "VisA via its official split_csv/1cls.csv: normal vs anomaly with ground-truth masks"
    Options = VisAOptions
    options: VisAOptions

    @classmethod
    def availability(cls, options: AdapterOptions) -> str | None:
        """Say why the dataset cannot load (missing root or split file)."""
        opts = cast(VisAOptions, options)
        reason = missing_root(opts.root)
        if reason:
            return reason
        csv_path = split_csv_path(opts)
        if csv_path is None:
            if folder_objects(opts.root.expanduser()):
                return None
            return (
                f"VisA split file not found: {opts.root.expanduser() / DEFAULT_SPLIT_CSV} (option split_csv), "
                "and no <object>/Data/Images/Normal folders to draw a seeded split from"
            )
        return None if csv_path.is_file() else f"VisA split file not found: {csv_path} (option split_csv)"

    def load(self) -> LoadedDataset:
        """Read the split CSV (or draw the seeded split), keep the chosen objects, check every file, decode once."""
        opts = self.options
        root = existing_root(opts.root)
        csv_path = split_csv_path(opts)
        rows = read_split_csv(csv_path) if csv_path is not None else seeded_rows(root, opts.split_seed)
        source = csv_path or root / "<object>/Data/Images"
        objects = sorted({row["object"] for _, row in rows})
        chosen = select_objects(objects, opts.category, source)
        check = DataCheck(f"VisA at {root}", root, opts.on_corrupt, self.name)
        found = [row_sample(root, line, row, check, csv_path) for line, row in rows if row["object"] in chosen]
        samples = check.readable(sample for sample in found if sample is not None)
        check.finish()
        labels = {s.label for s in samples}
        for needed in (NORMAL, ANOMALY):
            if needed not in labels:
                raise DatasetError(f"{source}: no {needed!r} images for {', '.join(sorted(chosen))}")
        return LoadedDataset.build(self, samples, [NORMAL, ANOMALY], NORMAL, check.dropped)


def split_csv_path(options: VisAOptions) -> Path | None:
    """The split file to read; None when the option is unset and ``split_csv/1cls.csv`` is absent (seeded split)."""
    path = (options.split_csv or DEFAULT_SPLIT_CSV).expanduser()
    path = path if path.is_absolute() else options.root.expanduser() / path
    return None if options.split_csv is None and not path.is_file() else path


def folder_objects(root: Path) -> list[str]:
    """Objects with a ``Data/Images/Normal`` folder under ``root``, sorted."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "Data" / "Images" / NORMAL.capitalize()).is_dir())


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def seeded_rows(root: Path, seed: int) -> list[tuple[int, dict[str, str]]]:
    """Split rows drawn from the folders (no split CSV): 10 % of each object's normals to test, anomalies all test."""
    objects = folder_objects(root)
    if not objects:
        raise DatasetError(f"{root}: no split_csv/1cls.csv and no <object>/Data/Images/Normal folders")
    rows: list[dict[str, str]] = []
    for obj in objects:
        images = root / obj / "Data" / "Images"
        normals = _images(images / "Normal")
        rng = np.random.default_rng([seed, *obj.encode()])
        n_test = max(1, round(len(normals) * TEST_NORMAL_FRACTION)) if len(normals) > 1 else 0
        in_test = set(rng.permutation(len(normals))[:n_test].tolist())
        for i, path in enumerate(normals):
            split = "test" if i in in_test else "train"
            rows.append({"object": obj, "split": split, "label": NORMAL, "image": _relative(path, root), "mask": ""})
        for path in _images(images / "Anomaly"):
            mask = f"{obj}/Data/Masks/Anomaly/{path.stem}.png"
            rows.append(
                {"object": obj, "split": "test", "label": ANOMALY, "image": _relative(path, root), "mask": mask}
            )
    return list(enumerate(rows, start=1))


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def read_split_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Data rows with line numbers; a missing file or column is one clear error."""
    if not path.is_file():
        raise DatasetError(f"VisA split file not found: {path} (option split_csv; expected split_csv/1cls.csv)")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in (reader.fieldnames or [])]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise DatasetError(
                    f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(header) or 'none'})"
                )
            reader.fieldnames = header
            rows = [
                (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}) for row in reader
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read VisA split file {path}: {exc}") from exc
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return rows


def select_objects(objects: list[str], requested: str | None, path: Path) -> set[str]:
    if requested is None or requested == "all":
        return set(objects)
    if requested not in objects:
        raise DatasetError(f"option category: no object {requested!r} in {path} (objects: {', '.join(objects)})")
    return {requested}


def row_sample(root: Path, line: int, row: dict[str, str], check: DataCheck, csv_path: Path | None) -> Sample | None:
    """One CSV row (or seeded-split row, ``csv_path`` None) as a sample.

    An unknown label, a missing image or a missing mask is noted in ``check``
    (naming the file and the CSV line) and gives no sample.
    """
    where = f"split CSV line {line}" if csv_path is not None else f"seeded split, image {row['image']}"
    label = row["label"].lower()
    if row["split"] not in ("train", "test"):
        raise DatasetError(f"{where}: split {row['split']!r} is neither 'train' nor 'test'")
    if label not in (NORMAL, ANOMALY):
        place = f"{check.where(csv_path)} line {line}" if csv_path is not None else row["image"]
        check.add(place, UNKNOWN_LABEL, f"{row['label']!r} is neither {NORMAL!r} nor {ANOMALY!r}")
        return None
    image = root / row["image"]
    if not image.is_file():
        check.add(image, MISSING, f"image named on {where}")
        return None
    mask = None
    if label == ANOMALY:
        if not row["mask"]:
            check.add(image, MISSING, f"no mask path for this anomaly image on {where}")
            return None
        mask = root / row["mask"]
        if not mask.is_file():
            check.add(mask, MISSING, f"the mask of {check.where(image)}, on {where}")
            return None
    return Sample(
        id=Path(row["image"]).with_suffix("").as_posix(),
        label=label,
        image=image,
        mask=mask,
        metadata={"category": row["object"], "official_split": row["split"]},
    )
