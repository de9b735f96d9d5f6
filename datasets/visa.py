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

``category`` selects the ``object`` column: ``None`` (default) loads the only
object in the file, or all when there are several; ``"all"`` asks for all; a
name loads that object. Metadata per sample: ``category`` (the object) and
``official_split``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import cast

from asebench.api.data import AdapterOptions, DatasetAdapter, LoadedDataset, Sample, existing_root, missing_root
from asebench.api.errors import DatasetError
from asebench.api.imaging import verify_images
from asebench.api.registry import register_dataset

NORMAL = "normal"
ANOMALY = "anomaly"
COLUMNS = ("object", "split", "label", "image", "mask")


class VisAOptions(AdapterOptions):
    """Options of the ``visa`` adapter (unknown keys are errors)."""

    root: Path
    category: str | None = None
    split_csv: Path = Path("split_csv/1cls.csv")


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
        return None if csv_path.is_file() else f"VisA split file not found: {csv_path} (option split_csv)"

    def load(self) -> LoadedDataset:
        """Read the split CSV, keep the chosen objects, check every file, decode everything once."""
        opts = self.options
        root = existing_root(opts.root)
        rows = read_split_csv(split_csv_path(opts))
        objects = sorted({row["object"] for _, row in rows})
        chosen = select_objects(objects, opts.category, split_csv_path(opts))
        samples = [row_sample(root, line, row) for line, row in rows if row["object"] in chosen]
        labels = {s.label for s in samples}
        for needed in (NORMAL, ANOMALY):
            if needed not in labels:
                raise DatasetError(f"{split_csv_path(opts)}: no {needed!r} rows for {', '.join(sorted(chosen))}")
        verify_images(samples)
        return LoadedDataset.build(self, samples, [NORMAL, ANOMALY], NORMAL)


def split_csv_path(options: VisAOptions) -> Path:
    path = options.split_csv.expanduser()
    return path if path.is_absolute() else options.root.expanduser() / path


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


def row_sample(root: Path, line: int, row: dict[str, str]) -> Sample:
    """One CSV row as a sample; unknown labels, missing files and missing masks name the row."""
    where = f"split CSV line {line}"
    label = row["label"].lower()
    if label not in (NORMAL, ANOMALY):
        raise DatasetError(f"{where}: label {row['label']!r} is neither {NORMAL!r} nor {ANOMALY!r}")
    if row["split"] not in ("train", "test"):
        raise DatasetError(f"{where}: split {row['split']!r} is neither 'train' nor 'test'")
    image = root / row["image"]
    if not image.is_file():
        raise DatasetError(f"{where}: image file not found: {image}")
    mask = None
    if label == ANOMALY:
        if not row["mask"]:
            raise DatasetError(f"{where}: anomaly image {row['image']} has no mask path")
        mask = root / row["mask"]
        if not mask.is_file():
            raise DatasetError(f"{where}: mask file not found: {mask}")
    return Sample(
        id=Path(row["image"]).with_suffix("").as_posix(),
        label=label,
        image=image,
        mask=mask,
        metadata={"category": row["object"], "official_split": row["split"]},
    )
