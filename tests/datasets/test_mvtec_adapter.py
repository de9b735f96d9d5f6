"""The ``mvtec`` adapter on tiny fixtures written in the MVTec AD layout."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from asebench.api.data import Task
from asebench.api.errors import DatasetError
from asebench.api.imaging import load_mask
from asebench.datasets.mvtec import MVTecAD, MVTecOptions
from asebench.run.config import build_config
from asebench.run.grid import plan_datasets

LAYOUT = {"train/good": 4, "test/good": 3, "test/broken_large": 3, "test/crack": 3}


def write_category(
    root: Path, category: str, counts: Mapping[str, int] = LAYOUT, size: int = 20, masks: bool = True
) -> Path:
    """root/<category>/{train,test}/<type>/NNN.png and ground_truth/<type>/NNN_mask.png."""
    rng = np.random.default_rng(sum(map(ord, category)))
    for folder, count in counts.items():
        for i in range(count):
            path = root / category / folder / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
            defect = folder.split("/")[1]
            if masks and folder.startswith("test/") and defect != "good":
                mask = np.zeros((size, size), dtype=np.uint8)
                mask[2 + i : 6 + i, 3:9] = 255
                mask_path = root / category / "ground_truth" / defect / f"{i:03d}_mask.png"
                mask_path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(mask).save(mask_path)
    return root


def load(root: Path, **options: object) -> object:
    return MVTecAD(MVTecOptions(root=root, **options)).load()


def test_one_category_gives_good_plus_defect_types_with_masks(tmp_path: Path) -> None:
    root = write_category(tmp_path / "mvtec", "bottle")
    data = load(root)
    assert data.class_names == ("good", "broken_large", "crack")
    assert data.normal_class == "good" and data.tasks == (Task.BINARY, Task.MULTICLASS)
    by_id = {s.id: s for s in data.samples}
    assert len(by_id) == 13
    crack = by_id["bottle/test/crack/001"]
    assert crack.label == "crack" and crack.mask == root / "bottle/ground_truth/crack/001_mask.png"
    assert load_mask(crack).sum() == 4 * 6
    assert dict(crack.metadata) == {"category": "bottle", "defect_type": "crack", "official_split": "test"}
    train_good = by_id["bottle/train/good/000"]
    assert train_good.mask is None and train_good.metadata["official_split"] == "train"
    assert by_id["bottle/test/good/002"].label == "good"
    assert data.labels(Task.BINARY).sum() == 6


def test_root_may_be_the_category_folder_itself(tmp_path: Path) -> None:
    root = write_category(tmp_path / "mvtec", "metal_nut")
    data = load(root / "metal_nut")
    assert data.class_names == ("good", "broken_large", "crack")
    assert all(s.metadata["category"] == "metal_nut" for s in data.samples)


def test_several_categories_load_all_with_prefixed_defect_classes(tmp_path: Path) -> None:
    root = write_category(
        write_category(tmp_path / "mvtec", "bottle"), "cable", {"train/good": 3, "test/good": 3, "test/crack": 3}
    )
    data = load(root)
    assert data.class_names == ("good", "bottle/broken_large", "bottle/crack", "cable/crack")
    assert load(root, category="all").class_names == data.class_names
    cable = load(root, category="cable")
    assert cable.class_names == ("good", "crack")
    assert {s.metadata["category"] for s in cable.samples} == {"cable"}


def test_unknown_category_lists_the_ones_found(tmp_path: Path) -> None:
    root = write_category(tmp_path / "mvtec", "bottle")
    with pytest.raises(DatasetError, match=r"no category 'screw'.*found: bottle"):
        load(root, category="screw")


def test_a_defect_image_without_mask_names_the_expected_file(tmp_path: Path) -> None:
    root = write_category(tmp_path / "mvtec", "bottle")
    (root / "bottle/ground_truth/crack/002_mask.png").unlink()
    with pytest.raises(
        DatasetError,
        match=r"bottle/ground_truth/crack/002_mask\.png: missing file \(the mask of bottle/test/crack/002\.png\)",
    ):
        load(root)


def test_drop_defect_types_leaves_out_whole_folders(tmp_path: Path) -> None:
    root = write_category(tmp_path / "mvtec", "bottle", {**LAYOUT, "test/combined": 3})
    assert "combined" in load(root).class_names
    assert load(root, drop_defect_types=["combined"]).class_names == ("good", "broken_large", "crack")


def test_a_folder_that_is_not_mvtec_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "plain" / "good").mkdir(parents=True)
    with pytest.raises(DatasetError, match="not an MVTec AD folder"):
        load(tmp_path / "plain")
    assert (
        MVTecAD.availability(MVTecOptions(root=tmp_path / "missing"))
        == f"dataset directory not found: {tmp_path / 'missing'}"
    )
    with pytest.raises(ValidationError):
        MVTecOptions(root=tmp_path, categroy="bottle")  # type: ignore[call-arg]


def test_name_colon_path_on_the_command_line_sets_root(tmp_path: Path) -> None:
    root = write_category(tmp_path / "mvtec", "bottle")
    plans = plan_datasets(build_config({"datasets": [f"mvtec:{root}"]}))
    assert plans[0].name == "mvtec" and plans[0].adapter.options.root == root


def test_bad_files_missing_masks_and_empty_types_in_one_error_or_skipped(tmp_path: Path) -> None:
    root = write_category(tmp_path / "mvtec", "bottle")
    (root / "bottle/ground_truth/crack/002_mask.png").unlink()
    (root / "bottle/test/good/001.png").write_bytes(b"")
    (root / "bottle/test/contamination").mkdir()
    with pytest.raises(DatasetError) as info:
        load(root)
    lines = str(info.value).splitlines()
    assert lines[0] == f"MVTec AD folder {root} has 3 problems: 1 empty file, 1 missing file, 1 empty class"
    assert [line.split(": ")[0] for line in lines[1:4]] == [
        "  bottle/ground_truth/crack/002_mask.png",
        "  bottle/test/contamination/",
        "  bottle/test/good/001.png",
    ]
    data = load(root, on_corrupt="skip")
    assert data.class_names == ("good", "broken_large", "crack")
    ids = {s.id for s in data.samples}
    assert "bottle/test/crack/002" not in ids and "bottle/test/good/001" not in ids and len(ids) == 11
    assert [p.path for p in data.dropped] == [
        "bottle/ground_truth/crack/002_mask.png",
        "bottle/test/contamination/",
        "bottle/test/good/001.png",
    ]
    assert data.fingerprint != load(write_category(tmp_path / "clean", "bottle")).fingerprint
