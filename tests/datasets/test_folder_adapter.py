"""The ``folder`` adapter on real image files written to ``tmp_path``."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from asebench.api.data import Task
from asebench.api.errors import DatasetError
from asebench.api.imaging import load_mask
from asebench.datasets.folder import FolderDataset, FolderOptions, parse_metadata_value

# -- helpers -------------------------------------------------------------------


def write_image(path: Path, seed: int, size: int = 24, mode: str = "RGB") -> Path:
    """A small noise image (noise, so a truncated PNG really lacks pixel data)."""
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    return path


def write_mask(path: Path, size: int = 24) -> Path:
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[4:10, 6:12] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask, mode="L").save(path)
    return path


def make_tree(root: Path, classes: dict[str, int], ext: str = ".png") -> Path:
    """``root/<class>/img_<i><ext>`` for each class and count."""
    seed = 0
    for name, count in classes.items():
        for i in range(count):
            seed += 1
            write_image(root / name / f"img_{i:03d}{ext}", seed)
    return root


def load(root: Path, **options: object) -> object:
    return FolderDataset(FolderOptions(root=root, **options)).load()


@pytest.fixture()
def dataset_root(tmp_path: Path) -> Path:
    """Good (3), scratch (3, one with a mask), dent (2 jpg), plus metadata.csv and clutter."""
    root = make_tree(tmp_path / "data", {"good": 3, "scratch": 3})
    write_image(root / "dent" / "a.JPG", 100)
    write_image(root / "dent" / "b.jpeg", 101)
    write_mask(root / "scratch" / "img_001_mask.png")
    (root / "scratch" / "notes.txt").write_text("not an image")
    (root / "good" / ".hidden.png").write_bytes(b"ignored hidden file")
    (root / "README.md").write_text("plain files in root are ignored")
    (root / "metadata.csv").write_text(
        "id,class,x_offset,operator\nscratch/img_001.png,scratch,0.25,alice\ngood/img_000,good,-3,bob\ndent/a,,1e-3,\n"
    )
    return root


# -- the happy path --------------------------------------------------------------


def test_samples_ids_labels_and_class_order(dataset_root: Path) -> None:
    data = load(dataset_root)
    assert data.name == "folder"
    assert data.class_names == ("dent", "good", "scratch")
    ids = [s.id for s in data.samples]
    assert ids == [
        "dent/a", "dent/b",
        "good/img_000", "good/img_001", "good/img_002",
        "scratch/img_000", "scratch/img_001", "scratch/img_002",
    ]  # fmt: skip
    assert all(s.label == s.id.split("/")[0] for s in data.samples)
    assert all(isinstance(s.image, Path) and s.image.is_file() for s in data.samples)
    assert list(data.labels(Task.MULTICLASS)) == [0, 0, 1, 1, 1, 2, 2, 2]


def test_normal_class_good_detected_and_binary_task(dataset_root: Path) -> None:
    data = load(dataset_root)
    assert data.normal_class == "good"
    assert data.tasks == (Task.BINARY, Task.MULTICLASS)
    assert list(data.labels(Task.BINARY)) == [1, 1, 0, 0, 0, 1, 1, 1]


def test_normal_class_named_normal_detected(tmp_path: Path) -> None:
    data = load(make_tree(tmp_path / "d", {"normal": 2, "crack": 2}))
    assert data.normal_class == "normal"


def test_no_normal_folder_means_defect_types_only(tmp_path: Path) -> None:
    data = load(make_tree(tmp_path / "d", {"crack": 2, "dent": 2}))
    assert data.normal_class is None
    assert data.tasks == (Task.MULTICLASS,)


def test_explicit_normal_class(tmp_path: Path) -> None:
    data = load(make_tree(tmp_path / "d", {"ok": 2, "crack": 2}), normal_class="ok")
    assert data.normal_class == "ok"


def test_explicit_normal_class_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="normal_class: 'ok' is not a class folder"):
        load(make_tree(tmp_path / "d", {"good": 2, "crack": 2}), normal_class="ok")


def test_two_normal_looking_folders_ask_for_the_option(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="set option normal_class"):
        load(make_tree(tmp_path / "d", {"good": 1, "normal": 1, "crack": 1}))


def test_class_names_fix_the_order(dataset_root: Path) -> None:
    data = load(dataset_root, class_names=["good", "scratch", "dent"])
    assert data.class_names == ("good", "scratch", "dent")
    assert [s.label for s in data.samples][:3] == ["good"] * 3
    assert list(data.labels(Task.MULTICLASS))[:3] == [0, 0, 0]


def test_class_names_listing_a_missing_folder(dataset_root: Path) -> None:
    with pytest.raises(DatasetError, match="class_names: no folder 'crack'"):
        load(dataset_root, class_names=["good", "scratch", "dent", "crack"])


def test_class_names_leaving_out_a_folder(dataset_root: Path) -> None:
    with pytest.raises(DatasetError, match=r"'dent' .* not in option class_names"):
        load(dataset_root, class_names=["good", "scratch"])


def test_image_extensions_are_case_insensitive(dataset_root: Path) -> None:
    data = load(dataset_root)
    dent = {s.id: s.image for s in data.samples if s.label == "dent"}
    assert {p.name for p in dent.values()} == {"a.JPG", "b.jpeg"}


def test_tif_and_bmp_are_read(tmp_path: Path) -> None:
    root = tmp_path / "d"
    write_image(root / "x" / "one.tif", 1)
    write_image(root / "x" / "two.BMP", 2)
    write_image(root / "y" / "three.tiff", 3, mode="L")
    assert [s.id for s in load(root).samples] == ["x/one", "x/two", "y/three"]


# -- masks -------------------------------------------------------------------------


def test_mask_attached_and_not_a_sample(dataset_root: Path) -> None:
    data = load(dataset_root)
    by_id = {s.id: s for s in data.samples}
    assert "scratch/img_001_mask" not in by_id
    sample = by_id["scratch/img_001"]
    assert sample.mask == dataset_root / "scratch" / "img_001_mask.png"
    mask = load_mask(sample)
    assert mask is not None and mask.shape == (24, 24) and mask.sum() == 36
    assert all(s.mask is None for s in data.samples if s.id != "scratch/img_001")


def test_custom_mask_suffix(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "d", {"crack": 2})
    write_mask(root / "crack" / "img_000.gt.png")  # stem "img_000.gt"
    data = load(root, mask_suffix=".gt")
    assert [s.id for s in data.samples] == ["crack/img_000", "crack/img_001"]
    assert data.samples[0].mask == root / "crack" / "img_000.gt.png"


def test_mask_without_image_is_an_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "d", {"crack": 2})
    write_mask(root / "crack" / "lonely_mask.png")
    with pytest.raises(DatasetError, match=r"mask file .*lonely_mask\.png has no image lonely\.\*"):
        load(root)


def test_empty_mask_suffix_turns_masks_off(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "d", {"crack": 1})
    write_image(root / "crack" / "lonely_mask.png", 5)
    data = load(root, mask_suffix="")
    assert [s.id for s in data.samples] == ["crack/img_000", "crack/lonely_mask"]


def test_two_images_with_one_stem_are_an_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "d", {"crack": 1})
    write_image(root / "crack" / "img_000.jpg", 9)
    with pytest.raises(DatasetError, match="would share the sample id 'img_000'"):
        load(root)


# -- metadata CSV ---------------------------------------------------------------------


def test_metadata_parsed_as_float_or_text(dataset_root: Path) -> None:
    by_id = {s.id: s for s in load(dataset_root).samples}
    assert by_id["scratch/img_001"].metadata == {"x_offset": 0.25, "operator": "alice"}
    assert by_id["good/img_000"].metadata == {"x_offset": -3.0, "operator": "bob"}
    assert isinstance(by_id["good/img_000"].metadata["x_offset"], float)
    assert by_id["dent/a"].metadata == {"x_offset": 0.001}  # empty cells left out
    assert by_id["dent/b"].metadata == {}  # no row, no metadata


def test_parse_metadata_value() -> None:
    assert parse_metadata_value(" 12 ") == 12.0
    assert parse_metadata_value("1.5e2") == 150.0
    assert parse_metadata_value("A-12") == "A-12"
    assert parse_metadata_value("nan") == "nan"
    assert parse_metadata_value("inf") == "inf"


def test_explicit_metadata_csv_with_windows_ids(dataset_root: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "elsewhere.csv"
    csv_path.write_text("id,lot\r\nscratch\\img_002.png,L7\r\n./dent/b,42\r\n")
    by_id = {s.id: s for s in load(dataset_root, metadata_csv=csv_path).samples}
    assert by_id["scratch/img_002"].metadata == {"lot": "L7"}
    assert by_id["dent/b"].metadata == {"lot": 42.0}
    assert by_id["scratch/img_001"].metadata == {}  # root/metadata.csv not read when one is given


def test_metadata_csv_with_bom_is_read(dataset_root: Path) -> None:
    (dataset_root / "metadata.csv").write_bytes("id,lot\ngood/img_001,3\n".encode("utf-8-sig"))
    by_id = {s.id: s for s in load(dataset_root).samples}
    assert by_id["good/img_001"].metadata == {"lot": 3.0}


def test_csv_unknown_class_names_file_row_and_value(dataset_root: Path) -> None:
    (dataset_root / "metadata.csv").write_text("id,class\ngood/img_000,good\ngood/img_001,goood\n")
    with pytest.raises(
        DatasetError, match=r"metadata\.csv row 3 \(id 'good/img_001'\): unknown label \(class 'goood'\)"
    ):
        load(dataset_root)


def test_csv_class_disagreeing_with_folder(dataset_root: Path) -> None:
    (dataset_root / "metadata.csv").write_text("id,class\ngood/img_000,scratch\n")
    with pytest.raises(DatasetError, match=r"metadata\.csv: row 2 .*'scratch' disagrees with .* folder 'good'"):
        load(dataset_root)


def test_csv_id_matching_no_image(dataset_root: Path) -> None:
    (dataset_root / "metadata.csv").write_text("id,lot\ngood/img_999.png,1\n")
    with pytest.raises(DatasetError, match=r"metadata\.csv: row 2 \(id 'good/img_999\.png'\): the id matches no image"):
        load(dataset_root)


def test_csv_duplicate_row(dataset_root: Path) -> None:
    (dataset_root / "metadata.csv").write_text("id,lot\ngood/img_000,1\ngood/img_000.png,2\n")
    with pytest.raises(DatasetError, match=r"row 3 .*second row for sample 'good/img_000'"):
        load(dataset_root)


def test_csv_without_id_column(dataset_root: Path) -> None:
    (dataset_root / "metadata.csv").write_text("name,lot\ngood/img_000,1\n")
    with pytest.raises(DatasetError, match=r"metadata\.csv has no 'id' column \(columns: name, lot\)"):
        load(dataset_root)


def test_csv_row_with_extra_fields(dataset_root: Path) -> None:
    (dataset_root / "metadata.csv").write_text("id,lot\ngood/img_000,1,surprise\n")
    with pytest.raises(DatasetError, match=r"metadata\.csv: row 2 has more fields than the header"):
        load(dataset_root)


def test_unreadable_csv(dataset_root: Path) -> None:
    (dataset_root / "metadata.csv").write_bytes(b"id,lot\n\xff\xfe\xfa\x00broken\n")
    with pytest.raises(DatasetError, match=r"cannot read metadata CSV .*metadata\.csv"):
        load(dataset_root)


def test_missing_explicit_csv(dataset_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"metadata CSV not found: .*nope\.csv"):
        load(dataset_root, metadata_csv=tmp_path / "nope.csv")


# -- fingerprint ---------------------------------------------------------------------


def test_fingerprint_is_stable_across_loads_and_copies(dataset_root: Path, tmp_path: Path) -> None:
    first = load(dataset_root).fingerprint
    assert load(dataset_root).fingerprint == first
    copy = tmp_path / "copy"
    shutil.copytree(dataset_root, copy)
    assert load(copy).fingerprint == first


def test_fingerprint_changes_with_one_pixel(dataset_root: Path) -> None:
    before = load(dataset_root).fingerprint
    path = dataset_root / "good" / "img_001.png"
    pixels = np.asarray(Image.open(path)).copy()
    pixels[0, 0, 0] ^= 1
    Image.fromarray(pixels).save(path)
    assert load(dataset_root).fingerprint != before


def test_fingerprint_changes_with_a_rename(dataset_root: Path) -> None:
    before = load(dataset_root).fingerprint
    (dataset_root / "dent" / "b.jpeg").rename(dataset_root / "dent" / "c.jpeg")
    assert load(dataset_root).fingerprint != before


def test_fingerprint_changes_with_a_mask_or_metadata_edit(dataset_root: Path) -> None:
    before = load(dataset_root).fingerprint
    csv_path = dataset_root / "metadata.csv"
    csv_path.write_text(csv_path.read_text().replace("0.25", "0.26"))
    after_csv = load(dataset_root).fingerprint
    assert after_csv != before
    write_mask(dataset_root / "scratch" / "img_001_mask.png", size=25)
    assert load(dataset_root).fingerprint != after_csv


# -- options, augmentation, availability ----------------------------------------------


def test_augmentation_policy_follows_the_option(dataset_root: Path) -> None:
    assert load(dataset_root).augmentation.geometric is False
    policy = load(dataset_root, augmentation_geometric=True).augmentation
    assert policy.geometric is True and policy.photometric is True


def test_options_recorded_as_json(dataset_root: Path) -> None:
    options = load(dataset_root).options
    assert options["root"] == str(dataset_root)
    assert options["mask_suffix"] == "_mask"


def test_unknown_option_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="normal_clas"):
        FolderOptions(root=tmp_path, normal_clas="good")  # type: ignore[call-arg]


def test_root_is_required() -> None:
    with pytest.raises(ValidationError, match="root"):
        FolderOptions()  # type: ignore[call-arg]


def test_availability(dataset_root: Path, tmp_path: Path) -> None:
    assert FolderDataset.availability(FolderOptions(root=dataset_root)) is None
    reason = FolderDataset.availability(FolderOptions(root=tmp_path / "missing"))
    assert reason == f"dataset directory not found: {tmp_path / 'missing'}"


def test_registered_under_folder() -> None:
    from asebench.api.registry import DATASETS

    assert DATASETS.get("folder") is FolderDataset


def test_import_stays_light() -> None:
    code = (
        "import sys, asebench.datasets.folder, asebench.datasets.neu_det;"
        "heavy = [m for m in ('torch', 'torchvision', 'timm') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


# -- bad input: one clear error naming the file or key ---------------------------------


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"dataset directory not found: {tmp_path / 'missing'}"):
        load(tmp_path / "missing")


def test_root_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file.png"
    path.write_bytes(b"x")
    with pytest.raises(DatasetError, match="dataset directory not found"):
        load(path)


def test_root_without_class_folders(tmp_path: Path) -> None:
    write_image(tmp_path / "d" / "loose.png", 1)
    with pytest.raises(DatasetError, match=r"no class folders in .*d: expected one sub-directory"):
        load(tmp_path / "d")


def test_empty_class_folder(dataset_root: Path) -> None:
    (dataset_root / "crack").mkdir()
    (dataset_root / "crack" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match=r"\n  crack/: empty class \(no image files in its folder\)"):
        load(dataset_root)


def test_random_bytes_image(dataset_root: Path) -> None:
    bad = dataset_root / "scratch" / "img_002.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(DatasetError, match=r"\n  scratch/img_002\.png: non-image file"):
        load(dataset_root)


def test_truncated_png(dataset_root: Path) -> None:
    bad = write_image(dataset_root / "good" / "img_002.png", 77, size=64)
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"\n  good/img_002\.png: truncated or corrupt image"):
        load(dataset_root)


def test_corrupt_mask(dataset_root: Path) -> None:
    (dataset_root / "scratch" / "img_001_mask.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetError, match=r"img_001_mask\.png"):
        load(dataset_root)


def test_corrupt_files_reported_on_the_threaded_path(tmp_path: Path) -> None:
    """Large folders are verified on a thread pool; every bad file is named, in path order."""
    root = make_tree(tmp_path / "d", {"a": 40, "b": 40})
    (root / "b" / "img_030.png").write_bytes(b"junk")
    (root / "a" / "img_010.png").write_bytes(b"junk")
    with pytest.raises(DatasetError, match=r"2 non-image files\n  a/img_010\.png: .*\n  b/img_030\.png: "):
        load(root)


# -- bad data, all at once (on_corrupt) -----------------------------------------------------


def write_truncated_jpeg(path: Path, seed: int) -> Path:
    """A real JPEG cut in half: the header reads, the pixel data ends early."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def make_bad_folder(root: Path) -> Path:
    """Good images in good/ and scratch/, plus one of each bad kind: text .jpg, 0-byte .png, cut JPEG, empty class."""
    make_tree(root, {"good": 3, "scratch": 3})
    (root / "good" / "notes.jpg").write_text("this is not an image\n")
    (root / "scratch" / "blank.png").write_bytes(b"")
    write_truncated_jpeg(root / "scratch" / "cut.jpg", 5)
    (root / "crack").mkdir()
    return root


def clean(root: Path) -> Path:
    """The same folder with the bad files and the empty class folder removed."""
    for name in ("good/notes.jpg", "scratch/blank.png", "scratch/cut.jpg"):
        (root / name).unlink()
    (root / "crack").rmdir()
    return root


def test_four_kinds_of_bad_data_in_one_error(tmp_path: Path) -> None:
    root = make_bad_folder(tmp_path / "data")
    with pytest.raises(DatasetError) as info:
        load(root)
    lines = str(info.value).splitlines()
    assert lines[0] == (
        f"folder dataset {root} has 4 problems: "
        "1 non-image file, 1 empty file, 1 truncated or corrupt image, 1 empty class"
    )
    assert lines[1:4] == [
        "  crack/: empty class (no image files in its folder)",
        "  good/notes.jpg: non-image file (no image format recognised)",
        "  scratch/blank.png: empty file (0 bytes)",
    ]
    assert lines[4].startswith("  scratch/cut.jpg: truncated or corrupt image (")
    assert len(lines) == 6 and lines[5].startswith("  hint: ") and "on_corrupt: skip" in lines[5]


def test_more_than_ten_problems_list_ten_and_count_the_rest(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data", {"good": 2, "scratch": 2})
    for i in range(13):
        (root / "scratch" / f"zero_{i:02d}.png").write_bytes(b"")
    with pytest.raises(DatasetError) as info:
        load(root)
    lines = str(info.value).splitlines()
    assert lines[0].endswith("has 13 problems: 13 empty files")
    assert lines[1:11] == [f"  scratch/zero_{i:02d}.png: empty file (0 bytes)" for i in range(10)]
    assert lines[11] == "  ... and 3 more"
    assert "on_corrupt: skip" in lines[12]


def test_skip_drops_the_bad_files_and_lists_them(tmp_path: Path) -> None:
    root = make_bad_folder(tmp_path / "data")
    data = load(root, on_corrupt="skip")
    assert data.class_names == ("good", "scratch") and data.normal_class == "good"
    assert len(data.samples) == 6
    assert [(p.path, p.kind) for p in data.dropped] == [
        ("crack/", "empty class"),
        ("good/notes.jpg", "non-image file"),
        ("scratch/blank.png", "empty file"),
        ("scratch/cut.jpg", "truncated or corrupt image"),
    ]
    assert data.options["on_corrupt"] == "skip"


def test_skipped_files_change_the_fingerprint(tmp_path: Path) -> None:
    root = make_bad_folder(tmp_path / "data")
    skipped = load(root, on_corrupt="skip")
    cleaned = load(clean(root))
    assert [s.id for s in skipped.samples] == [s.id for s in cleaned.samples]
    assert skipped.fingerprint != cleaned.fingerprint
    assert load(root, on_corrupt="skip").fingerprint == cleaned.fingerprint  # nothing left to drop
    assert load(root).dropped == ()


def test_skip_on_a_clean_folder_changes_nothing(dataset_root: Path) -> None:
    assert load(dataset_root, on_corrupt="skip").fingerprint == load(dataset_root).fingerprint


def test_skip_leaves_out_a_class_whose_images_are_all_unreadable(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data", {"good": 3, "dent": 2, "scratch": 2})
    for path in (root / "dent").iterdir():
        path.write_bytes(b"junk")
    data = load(root, on_corrupt="skip")
    assert data.class_names == ("good", "scratch")
    assert ("dent/", "empty class") in [(p.path, p.kind) for p in data.dropped]


def test_skip_never_drops_the_normal_class_or_all_but_one(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data", {"good": 2, "dent": 2, "scratch": 2})
    for path in (root / "good").iterdir():
        path.write_bytes(b"")
    with pytest.raises(DatasetError, match="the normal class 'good' has no readable images left"):
        load(root, on_corrupt="skip")
    two = make_tree(tmp_path / "two", {"dent": 2, "scratch": 2})
    (two / "scratch" / "img_000.png").write_bytes(b"")
    (two / "scratch" / "img_001.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"leaves 1 class\(es\) with readable images \(dent\); at least 2"):
        load(two, on_corrupt="skip")


def test_skip_keeps_unknown_labels_an_error(dataset_root: Path) -> None:
    (dataset_root / "scratch" / "img_002.png").write_bytes(b"")
    (dataset_root / "metadata.csv").write_text("id,class\ngood/img_000,goood\n")
    with pytest.raises(DatasetError) as info:
        load(dataset_root)
    assert "has 2 problems: 1 empty file, 1 unknown label" in str(info.value)
    with pytest.raises(DatasetError) as info:
        load(dataset_root, on_corrupt="skip")
    message = str(info.value)
    assert "has 1 problem: 1 unknown label" in message and "img_002" not in message
    assert "known classes: dent, good, scratch" in message and "hint:" not in message


def test_an_unreadable_mask_drops_its_image_under_skip(dataset_root: Path) -> None:
    (dataset_root / "scratch" / "img_001_mask.png").write_bytes(b"\x89PNG not really")
    data = load(dataset_root, on_corrupt="skip")
    assert "scratch/img_001" not in [s.id for s in data.samples]
    assert [p.path for p in data.dropped] == ["scratch/img_001_mask.png"]


def test_unknown_on_corrupt_value_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="on_corrupt"):
        FolderOptions(root=tmp_path, on_corrupt="ignore")  # type: ignore[arg-type]
