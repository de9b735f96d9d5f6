"""The ``visa`` adapter on tiny fixtures in VisA's official split-CSV layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from asebench.api.data import Task
from asebench.api.errors import DatasetError
from asebench.api.imaging import load_mask
from asebench.datasets.visa import VisA, VisAOptions

HEADER = "object,split,label,image,mask\n"


def write_visa(
    root: Path, objects: tuple[str, ...] = ("candle",), normals: int = 5, anomalies: int = 3, size: int = 20
) -> Path:
    """root/split_csv/1cls.csv plus <object>/Data/Images/{Normal,Anomaly} and Data/Masks/Anomaly."""
    rng = np.random.default_rng(7)
    lines = [HEADER]
    for obj in objects:
        for i in range(normals):
            rel = f"{obj}/Data/Images/Normal/{i:04d}.JPG"
            _image(root / rel, rng, size)
            lines.append(f"{obj},{'train' if i < normals - 2 else 'test'},normal,{rel},\n")
        for i in range(anomalies):
            rel = f"{obj}/Data/Images/Anomaly/{i:03d}.JPG"
            mask_rel = f"{obj}/Data/Masks/Anomaly/{i:03d}.png"
            _image(root / rel, rng, size)
            mask = np.zeros((size, size), dtype=np.uint8)
            mask[3:8, 4:9] = 1  # VisA masks are small integer labels, not 255
            (root / mask_rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask).save(root / mask_rel)
            lines.append(f"{obj},test,anomaly,{rel},{mask_rel}\n")
    (root / "split_csv").mkdir(parents=True, exist_ok=True)
    (root / "split_csv" / "1cls.csv").write_text("".join(lines), encoding="utf-8")
    return root


def _image(path: Path, rng: np.random.Generator, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path, format="JPEG")


def load(root: Path, **options: object) -> object:
    return VisA(VisAOptions(root=root, **options)).load()


def test_split_csv_rows_become_normal_and_anomaly_samples_with_masks(tmp_path: Path) -> None:
    root = write_visa(tmp_path / "visa")
    data = load(root)
    assert data.class_names == ("normal", "anomaly") and data.normal_class == "normal"
    assert data.tasks == (Task.BINARY, Task.MULTICLASS)
    by_id = {s.id: s for s in data.samples}
    anomaly = by_id["candle/Data/Images/Anomaly/001"]
    assert anomaly.label == "anomaly" and anomaly.mask == root / "candle/Data/Masks/Anomaly/001.png"
    assert load_mask(anomaly).sum() == 25
    normal = by_id["candle/Data/Images/Normal/0000"]
    assert normal.mask is None and dict(normal.metadata) == {"category": "candle", "official_split": "train"}
    assert by_id["candle/Data/Images/Normal/0004"].metadata["official_split"] == "test"


def test_category_selects_one_object_and_default_loads_all(tmp_path: Path) -> None:
    root = write_visa(tmp_path / "visa", objects=("candle", "pcb1"))
    assert {s.metadata["category"] for s in load(root).samples} == {"candle", "pcb1"}
    assert {s.metadata["category"] for s in load(root, category="pcb1").samples} == {"pcb1"}
    with pytest.raises(DatasetError, match=r"no object 'pcb9'.*candle, pcb1"):
        load(root, category="pcb9")


def test_an_anomaly_row_without_a_mask_file_names_the_line(tmp_path: Path) -> None:
    root = write_visa(tmp_path / "visa")
    (root / "candle/Data/Masks/Anomaly/002.png").unlink()
    with pytest.raises(
        DatasetError, match=r"Masks/Anomaly/002\.png: missing file \(the mask of .*002\.JPG, on split CSV line \d+\)"
    ):
        load(root)


def test_bad_labels_and_missing_columns_are_clear_errors(tmp_path: Path) -> None:
    root = write_visa(tmp_path / "visa")
    csv_path = root / "split_csv" / "1cls.csv"
    csv_path.write_text(csv_path.read_text().replace("test,anomaly", "test,broken", 1))
    with pytest.raises(
        DatasetError, match=r"1cls\.csv line \d+: unknown label \('broken' is neither 'normal' nor 'anomaly'\)"
    ):
        load(root)
    csv_path.write_text("object,split,label,image\ncandle,train,normal,x.JPG\n")
    with pytest.raises(DatasetError, match="missing column"):
        load(root)


def test_a_missing_split_file_is_reported_by_availability(tmp_path: Path) -> None:
    (tmp_path / "visa").mkdir()
    reason = VisA.availability(VisAOptions(root=tmp_path / "visa"))
    assert reason is not None and "split_csv/1cls.csv" in reason


# -- without the split CSV: the seeded split ---------------------------------------------------


def test_without_the_split_csv_a_seeded_split_is_drawn_in_the_one_class_proportions(tmp_path: Path) -> None:
    root = write_visa(tmp_path / "visa", objects=("candle", "pcb1"), normals=20, anomalies=3)
    (root / "split_csv" / "1cls.csv").unlink()
    assert VisA.availability(VisAOptions(root=root)) is None
    data = load(root)
    for obj in ("candle", "pcb1"):
        samples = [s for s in data.samples if s.metadata["category"] == obj]
        normal_test = [s for s in samples if s.label == "normal" and s.metadata["official_split"] == "test"]
        assert len(normal_test) == 2  # 10 % of 20 normals
        assert all(s.metadata["official_split"] == "test" for s in samples if s.label == "anomaly")
        assert all(s.mask is not None for s in samples if s.label == "anomaly")
    again, other = load(root), load(root, split_seed=1)
    assert again.fingerprint == data.fingerprint  # the same seed draws the same split
    assert other.fingerprint != data.fingerprint  # and the split is part of the fingerprint
    assert {s.id for s in again.samples} == {s.id for s in other.samples}


def test_an_explicit_split_csv_must_exist(tmp_path: Path) -> None:
    root = write_visa(tmp_path / "visa")
    reason = VisA.availability(VisAOptions(root=root, split_csv=Path("split_csv/2cls.csv")))
    assert reason is not None and "2cls.csv" in reason


def test_missing_and_unreadable_files_in_one_error_or_skipped(tmp_path: Path) -> None:
    root = write_visa(tmp_path / "visa")
    (root / "candle/Data/Masks/Anomaly/002.png").unlink()
    (root / "candle/Data/Images/Normal/0001.JPG").write_text("not an image")
    with pytest.raises(DatasetError) as info:
        load(root)
    lines = str(info.value).splitlines()
    assert lines[0] == f"VisA at {root} has 2 problems: 1 non-image file, 1 missing file"
    assert [line.split(": ")[0] for line in lines[1:3]] == [
        "  candle/Data/Images/Normal/0001.JPG",
        "  candle/Data/Masks/Anomaly/002.png",
    ]
    data = load(root, on_corrupt="skip")
    assert len(data.samples) == 6 and data.class_names == ("normal", "anomaly")
    assert [p.path for p in data.dropped] == ["candle/Data/Images/Normal/0001.JPG", "candle/Data/Masks/Anomaly/002.png"]
