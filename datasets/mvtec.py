"""``mvtec``: the MVTec AD directory layout, with pixel masks.

Layout (the official archive, one folder per category)::

    root/<category>/train/good/000.png
    root/<category>/test/good/000.png
    root/<category>/test/<defect_type>/000.png
    root/<category>/ground_truth/<defect_type>/000_mask.png

``root`` may also be one category folder itself (it then holds ``train/`` and
``test/``), so ``--dataset mvtec:/data/mvtec_ad/bottle`` works.

Classes: ``good`` (the normal class) plus the defect types, taken from the
``test/`` sub-folder names; they feed the multiclass task and the binary task
is good vs any defect. Every defect image must have its mask in
``ground_truth/<defect_type>/<stem>_mask.png``; a missing mask is an error.

``category``: ``None`` (default) loads the single category under ``root``, or
all of them when there are several; ``"all"`` asks for all explicitly; a name
loads that category. With several categories the defect classes are named
``<category>/<defect_type>`` (``bottle/broken_large``) because the same type
name (``crack``, ``contamination``) means different things on different objects,
while ``good`` is shared. Anomaly metrics are then pooled over categories; the
published tables average per-category numbers, so run one category per run to
compare with them.

Every sample carries metadata ``category``, ``defect_type`` and
``official_split`` (``train``/``test``). The runner's split protocol decides
train/val/test; ``official_split`` records where MVTec put the image (MVTec's
training images are all normal), so an official per-category protocol (fit on
``train/good``, score ``test/``) can be built from metadata alone.
:func:`load_layout` is the one reader of this layout; ``anomaly-synth`` loads
its generated folders through it too.

``drop_defect_types`` leaves out whole defect folders, e.g. ``[combined]``
(images with several defects) for typed analysis.

Unreadable images and masks, defect images without a mask and empty defect
folders are all found before failing and listed in one error. Option
``on_corrupt: skip`` leaves them out (a defect image whose mask is missing or
unreadable goes too) and lists them in the records; a category left with no
normal image is still an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

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
from asebench.api.problems import EMPTY_CLASS, MISSING
from asebench.api.registry import register_dataset
from asebench.datasets.folder import IMAGE_EXTENSIONS

NORMAL = "good"
MASK_SUFFIX = "_mask"


class MVTecOptions(FileAdapterOptions):
    """Options of the ``mvtec`` adapter (unknown keys are errors)."""

    root: Path
    category: str | None = None
    drop_defect_types: list[str] = Field(default_factory=list)


@register_dataset("mvtec")
class MVTecAD(DatasetAdapter):
    """MVTec AD: root/<category>/{train,test,ground_truth}/<type>/<image>."""

    name = "mvtec"
    description = "MVTec AD layout: good vs defect types from test/ folder names, with ground-truth masks"
    Options = MVTecOptions
    options: MVTecOptions

    @classmethod
    def availability(cls, options: AdapterOptions) -> str | None:
        """Say why the dataset cannot load (missing root), so `asebench list` can show it."""
        return missing_root(cast(MVTecOptions, options).root)

    def load(self) -> LoadedDataset:
        """Scan the chosen categories, pair every defect image with its mask, decode everything once."""
        root = existing_root(self.options.root)
        check = DataCheck(f"MVTec AD folder {root}", root, self.options.on_corrupt, self.name)
        samples, class_names = load_layout(root, self.options.category, set(self.options.drop_defect_types), check)
        return LoadedDataset.build(self, samples, class_names, NORMAL, check.dropped)


def load_layout(
    root: Path, category: str | None = None, dropped: set[str] | None = None, check: DataCheck | None = None
) -> tuple[list[Sample], list[str]]:
    """Samples and class names (``good`` first) of an MVTec-layout folder, every file decoded once.

    Shared by every adapter that writes or finds this layout (``mvtec``,
    ``anomaly-synth``), so they label, pair masks and fill metadata alike.
    Every problem found is listed in one error, or, under the ``check``'s
    ``on_corrupt: skip``, left out (``check.dropped``).
    """
    check = check or DataCheck(f"MVTec AD folder {root}", root)
    categories = select_categories(find_categories(root), category, root)
    prefixed = len(categories) > 1
    samples: list[Sample] = []
    for name, folder in categories.items():
        samples.extend(scan_category(name, folder, prefixed, dropped or set(), check))
    samples = check.readable(samples)
    check.finish()
    for name, folder in categories.items():
        if not any(s.label == NORMAL and s.metadata["category"] == name for s in samples):
            raise DatasetError(f"category {name!r}: no normal images in {folder / 'train' / NORMAL} or test/good")
    defect_classes = sorted({s.label for s in samples} - {NORMAL})
    if not defect_classes:
        raise DatasetError(f"{root}: no defect images under test/<defect_type>/ (only 'good' found)")
    return samples, [NORMAL, *defect_classes]


def find_categories(root: Path) -> dict[str, Path]:
    """Category name -> folder: ``root`` itself when it holds train/ and test/, else its sub-folders that do."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        return {root.name: root}
    found = {
        p.name: p
        for p in sorted(root.iterdir())
        if p.is_dir() and not p.name.startswith(".") and (p / "train").is_dir() and (p / "test").is_dir()
    }
    if not found:
        raise DatasetError(
            f"{root} is not an MVTec AD folder: expected <category>/train/good and <category>/test/<type> "
            f"sub-folders (or train/ and test/ directly in it)"
        )
    return found


def select_categories(found: dict[str, Path], requested: str | None, root: Path) -> dict[str, Path]:
    """Apply the ``category`` option (None or "all": every category found)."""
    if requested is None or requested == "all":
        return found
    if requested not in found:
        raise DatasetError(f"option category: no category {requested!r} in {root} (found: {', '.join(found)})")
    return {requested: found[requested]}


def _images(folder: Path) -> list[Path]:
    return [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    ]


def scan_category(category: str, folder: Path, prefixed: bool, dropped: set[str], check: DataCheck) -> list[Sample]:
    """All samples of one category: train/good, test/good and test/<defect> with masks.

    Empty defect folders and defect images without a mask are noted in
    ``check`` (whose ``finish`` reports them) and left out of the list.
    """
    train_good = folder / "train" / NORMAL
    if not train_good.is_dir():
        raise DatasetError(f"category {category!r}: missing {train_good}")
    samples = [_sample(category, "train", NORMAL, path, None, NORMAL) for path in _images(train_good)]
    type_dirs = [p for p in sorted((folder / "test").iterdir()) if p.is_dir() and not p.name.startswith(".")]
    for type_dir in type_dirs:
        defect = type_dir.name
        if defect in dropped:
            continue
        images = _images(type_dir)
        if not images:
            check.add(type_dir, EMPTY_CLASS, "no images in its folder", folder=True)
        for path in images:
            mask = None
            if defect != NORMAL:
                mask = _mask_of(folder, defect, path)
                if mask is None:
                    expected = folder / "ground_truth" / defect / f"{path.stem}{MASK_SUFFIX}.png"
                    check.add(expected, MISSING, f"the mask of {check.where(path)}")
                    continue
            label = NORMAL if defect == NORMAL else (f"{category}/{defect}" if prefixed else defect)
            samples.append(_sample(category, "test", defect, path, mask, label))
    return samples


def _mask_of(folder: Path, defect: str, image: Path) -> Path | None:
    """``ground_truth/<defect>/<stem>_mask.png`` (or with the image's extension), None when neither exists."""
    mask_dir = folder / "ground_truth" / defect
    candidates = [mask_dir / f"{image.stem}{MASK_SUFFIX}{ext}" for ext in (".png", image.suffix)]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def _sample(category: str, split: str, defect: str, path: Path, mask: Path | None, label: str) -> Sample:
    return Sample(
        id=f"{category}/{split}/{defect}/{path.stem}",
        label=label,
        image=path,
        mask=mask,
        metadata={"category": category, "defect_type": defect, "official_split": split},
    )
