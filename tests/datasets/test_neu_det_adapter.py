"""The ``neu-det`` adapter: a tiny fake layout always, the shared real copy when present."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from asebench.api.data import Task
from asebench.api.errors import DatasetError
from asebench.datasets.neu_det import ENV_VAR, NEU_CLASSES, NeuDet, NeuDetOptions, parse_name

# -- helpers -------------------------------------------------------------------

FAKE_INDICES = (1, 2, 10)  # 10 sorts before 2 as text: checks the numeric order


def write_jpeg(path: Path, seed: int, size: int = 32) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def make_fake_neu(root: Path, indices: tuple[int, ...] = FAKE_INDICES) -> Path:
    """``root/IMAGES/<class>_<n>.jpg`` for the six classes, plus files the adapter must ignore."""
    seed = 0
    for name in NEU_CLASSES:
        for index in indices:
            seed += 1
            write_jpeg(root / "IMAGES" / f"{name}_{index}.jpg", seed)
    (root / "ANNOTATIONS").mkdir()
    (root / "ANNOTATIONS" / "crazing_1.xml").write_text("<annotation/>")
    (root / "IMAGES" / "Thumbs.db").write_bytes(b"\x00\x01")
    (root / "README.md").write_text("fake NEU-DET")
    return root


def load(root: Path, **options: object) -> object:
    return NeuDet(NeuDetOptions(root=root, **options)).load()


@pytest.fixture()
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(ENV_VAR, raising=False)
    return make_fake_neu(tmp_path / "neu-det")


# -- file names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("crazing_1.jpg", ("crazing", 1)),
        ("rolled-in_scale_12.jpg", ("rolled-in_scale", 12)),
        ("pitted_surface_3.jpg", ("pitted_surface", 3)),
        ("scratches_300.JPG", ("scratches", 300)),
    ],
)
def test_parse_name(name: str, expected: tuple[str, int]) -> None:
    assert parse_name(Path(name)) == expected


@pytest.mark.parametrize("name", ["rust_4.jpg", "crazing.jpg", "pitted_4.jpg", "crazing_x.jpg", "_4.jpg"])
def test_parse_name_rejects(name: str) -> None:
    with pytest.raises(DatasetError, match=f"cannot tell the class of {name}"):
        parse_name(Path(name))


# -- fake layout -----------------------------------------------------------------------


def test_fake_layout_loads(fake_root: Path) -> None:
    data = load(fake_root)
    assert data.name == "neu-det"
    assert data.class_names == NEU_CLASSES
    assert data.normal_class is None
    assert data.tasks == (Task.MULTICLASS,)
    assert len(data.samples) == 6 * len(FAKE_INDICES)
    assert Counter(s.label for s in data.samples) == dict.fromkeys(NEU_CLASSES, 3)
    by_id = {s.id: s for s in data.samples}
    assert by_id["rolled-in_scale_10"].label == "rolled-in_scale"
    assert by_id["pitted_surface_2"].label == "pitted_surface"
    assert by_id["crazing_1"].image == fake_root / "IMAGES" / "crazing_1.jpg"
    assert all(s.mask is None and not s.metadata for s in data.samples)
    assert [s.id for s in data.samples[:3]] == ["crazing_1", "crazing_2", "crazing_10"]
    assert list(data.labels(Task.MULTICLASS)) == [i for i in range(6) for _ in FAKE_INDICES]


def test_binary_task_is_refused(fake_root: Path) -> None:
    with pytest.raises(DatasetError, match="binary task needs a dataset with a normal class"):
        load(fake_root).labels(Task.BINARY)


def test_augmentation_allows_flips(fake_root: Path) -> None:
    policy = load(fake_root).augmentation
    assert policy.geometric is True and policy.photometric is True


def test_limit_per_class_takes_lowest_indices(fake_root: Path) -> None:
    data = load(fake_root, limit_per_class=2)
    assert len(data.samples) == 12
    assert {s.id for s in data.samples if s.label == "scratches"} == {"scratches_1", "scratches_2"}


def test_limit_per_class_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="limit_per_class"):
        NeuDetOptions(limit_per_class=0)


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ValidationError, match="limit"):
        NeuDetOptions(limit=3)  # type: ignore[call-arg]


def test_images_directly_in_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    root = make_fake_neu(tmp_path / "neu")
    flat = root / "IMAGES"
    assert len(load(flat).samples) == 18


def test_fingerprint_stable_and_sensitive(fake_root: Path) -> None:
    first = load(fake_root).fingerprint
    assert load(fake_root).fingerprint == first
    path = fake_root / "IMAGES" / "inclusion_2.jpg"
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # one byte of entropy-coded data; the file still decodes
    path.write_bytes(bytes(raw))
    assert load(fake_root).fingerprint != first


def test_bad_prefix_names_the_file(fake_root: Path) -> None:
    write_jpeg(fake_root / "IMAGES" / "rust_7.jpg", 99)
    with pytest.raises(DatasetError, match=r"\n  rust_7\.jpg: unknown label \(the file name is not <class>_<n>\)"):
        load(fake_root)


def test_missing_index_names_the_file(fake_root: Path) -> None:
    write_jpeg(fake_root / "IMAGES" / "patches.jpg", 99)
    with pytest.raises(DatasetError, match=r"\n  patches\.jpg: unknown label"):
        load(fake_root)


def test_two_files_for_one_index(fake_root: Path) -> None:
    write_jpeg(fake_root / "IMAGES" / "patches_01.jpg", 99)
    with pytest.raises(DatasetError, match=r"patches_0?1\.jpg and .*patches_0?1\.jpg are both image 1"):
        load(fake_root)


def test_missing_class(fake_root: Path) -> None:
    for path in (fake_root / "IMAGES").glob("scratches_*.jpg"):
        path.unlink()
    with pytest.raises(DatasetError, match=r"IMAGES has 1 problem: 1 empty class\n  scratches_<n>\.\*: empty class"):
        load(fake_root)


def test_corrupt_jpeg_names_the_file(fake_root: Path) -> None:
    path = fake_root / "IMAGES" / "patches_2.jpg"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError, match=r"\n  patches_2\.jpg: truncated or corrupt image"):
        load(fake_root)


# -- locating the copy ------------------------------------------------------------------


def test_env_var_root(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(fake_root))
    assert NeuDet.availability(NeuDetOptions()) is None
    data = NeuDet().load()
    assert data.samples[0].image == fake_root / "IMAGES" / "crazing_1.jpg"


def test_wrong_env_var_is_reported_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(ENV_VAR, str(missing))
    reason = NeuDet.availability(NeuDetOptions())
    assert reason == (
        f"NEU-DET not found (looked in {missing}); set ASEBENCH_NEU_DET_ROOT or datasets options root (see docs/datasets.md)"
    )
    with pytest.raises(DatasetError, match="NEU-DET not found"):
        NeuDet().load()


def test_explicit_missing_root(tmp_path: Path) -> None:
    reason = NeuDet.availability(NeuDetOptions(root=tmp_path / "nope"))
    assert reason is not None and str(tmp_path / "nope") in reason and ENV_VAR in reason


def test_root_relative_to_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    work = tmp_path / "main"
    shared = make_fake_neu(work / "data" / "neu-det")
    monkeypatch.chdir(work)
    data = NeuDet(NeuDetOptions(limit_per_class=1)).load()
    assert data.samples[0].image == shared.resolve() / "IMAGES" / "crazing_1.jpg"


def test_registered_under_neu_det() -> None:
    from asebench.api.registry import DATASETS

    assert DATASETS.get("neu-det") is NeuDet


# -- the real shared copy -----------------------------------------------------------------


def real_options(**options: object) -> NeuDetOptions:
    """Default root resolution; skip with the adapter's own reason when the copy is absent."""
    opts = NeuDetOptions(**options)
    reason = NeuDet.availability(opts)
    if reason is not None:
        pytest.skip(reason)
    return opts


@pytest.mark.neu
def test_real_copy_full_load() -> None:
    opts = real_options()
    start = time.perf_counter()
    data = NeuDet(opts).load()
    elapsed = time.perf_counter() - start
    assert len(data.samples) == 1800
    assert data.class_names == NEU_CLASSES
    assert Counter(s.label for s in data.samples) == dict.fromkeys(NEU_CLASSES, 300)
    assert len({s.id for s in data.samples}) == 1800
    assert all(s.id.startswith(f"{s.label}_") for s in data.samples)
    assert elapsed < 30, f"full NEU-DET load took {elapsed:.1f}s"


@pytest.mark.neu
def test_real_copy_limited_load_is_deterministic() -> None:
    opts = real_options(limit_per_class=5)
    first = NeuDet(opts).load()
    assert len(first.samples) == 30
    assert [s.id for s in first.samples[:5]] == [f"crazing_{i}" for i in range(1, 6)]
    assert NeuDet(opts).load().fingerprint == first.fingerprint


# -- bad data, all at once (on_corrupt) -------------------------------------------------


def test_unknown_names_empty_classes_and_bad_files_in_one_error(fake_root: Path) -> None:
    images = fake_root / "IMAGES"
    write_jpeg(images / "rust_7.jpg", 99)
    (images / "patches_2.jpg").write_bytes(b"")
    for path in images.glob("scratches_*.jpg"):
        path.unlink()
    with pytest.raises(DatasetError) as info:
        load(fake_root)
    lines = str(info.value).splitlines()
    assert lines[0] == f"NEU-DET at {images} has 3 problems: 1 empty file, 1 empty class, 1 unknown label"
    assert [line.split(": ")[0] for line in lines[1:4]] == ["  patches_2.jpg", "  rust_7.jpg", "  scratches_<n>.*"]


def test_skip_drops_unreadable_files_and_empty_classes_not_unknown_names(fake_root: Path) -> None:
    images = fake_root / "IMAGES"
    (images / "patches_2.jpg").write_bytes(b"not a jpeg")
    for path in images.glob("scratches_*.jpg"):
        path.unlink()
    data = load(fake_root, on_corrupt="skip")
    assert "scratches" not in data.class_names and len(data.class_names) == 5
    assert "patches_2" not in {s.id for s in data.samples}
    assert [p.path for p in data.dropped] == ["patches_2.jpg", "scratches_<n>.*"]
    write_jpeg(images / "rust_7.jpg", 99)
    with pytest.raises(DatasetError, match=r"has 1 problem: 1 unknown label\n  rust_7\.jpg"):
        load(fake_root, on_corrupt="skip")
