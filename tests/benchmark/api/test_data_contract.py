"""The dataset contract (manifest, labels, fingerprint), method views, predictions and images."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from asebench.api.data import (
    BINARY_CLASS_NAMES,
    AdapterOptions,
    AugmentationPolicy,
    DatasetAdapter,
    LoadedDataset,
    Sample,
    Task,
    file_sha256,
    fingerprint_samples,
    task_labels,
    validate_manifest,
)
from asebench.api.errors import DatasetError
from asebench.api.imaging import load_image, load_mask, verify_images
from asebench.api.method import LabeledSplit, Predictions, UnlabeledSplit, make_views
from asebench.run.splits import SplitConfig, make_split

CLASSES = ("normal", "type1", "type2")

# -- helpers -------------------------------------------------------------------


def arr(seed: int, shape=(6, 6, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def samples_for(counts: dict[str, int]) -> list[Sample]:
    out = []
    for label, count in counts.items():
        for i in range(count):
            out.append(Sample(id=f"{label}-{i:02d}", label=label, image=arr(len(out))))
    return out


class Options(AdapterOptions):
    scale: float = 1.0


class Toy(DatasetAdapter):
    name = "toy"
    version = "3"
    augmentation = AugmentationPolicy(geometric=True)
    Options = Options

    def __init__(self, samples, class_names=CLASSES, normal="normal", options=None):
        super().__init__(options)
        self._samples, self._class_names, self._normal = samples, class_names, normal

    def load(self) -> LoadedDataset:
        return LoadedDataset.build(self, self._samples, self._class_names, self._normal)


def toy(counts=None, normal="normal", class_names=CLASSES) -> LoadedDataset:
    counts = counts or {"normal": 8, "type1": 5, "type2": 4}
    return Toy(samples_for(counts), class_names, normal).load()


def png_bytes(seed: int = 0, size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(arr(seed, (size, size, 3))).save(buffer, format="PNG")
    return buffer.getvalue()


# -- validate_manifest ---------------------------------------------------------


def test_valid_manifest_passes():
    validate_manifest(samples_for({"normal": 1, "type1": 1, "type2": 1}), CLASSES, "normal", "toy")
    validate_manifest(samples_for({"normal": 1, "type1": 1, "type2": 1}), CLASSES, None, "toy")


def test_unknown_class_names_sample_and_class():
    samples = [*samples_for({"normal": 2, "type1": 1, "type2": 1}), Sample("odd-1", "type9", arr(0))]
    with pytest.raises(DatasetError) as info:
        validate_manifest(samples, CLASSES, "normal", "toy")
    message = str(info.value)
    assert message.startswith("toy: ")
    assert "'odd-1'" in message and "'type9'" in message
    assert "normal, type1, type2" in message


def test_duplicate_id():
    samples = samples_for({"normal": 2, "type1": 1, "type2": 1})
    samples.append(Sample("normal-00", "type1", arr(9)))
    with pytest.raises(DatasetError, match=r"toy: duplicate sample id 'normal-00'"):
        validate_manifest(samples, CLASSES, "normal", "toy")


def test_empty_class():
    with pytest.raises(DatasetError, match=r"class\(es\) with no samples: type2"):
        validate_manifest(samples_for({"normal": 2, "type1": 1}), CLASSES, "normal", "toy")


def test_several_empty_classes_all_named():
    with pytest.raises(DatasetError, match="type1, type2"):
        validate_manifest(samples_for({"normal": 2}), CLASSES, None, "toy")


def test_normal_class_not_in_classes():
    with pytest.raises(DatasetError, match=r"normal class 'ok' is not one of"):
        validate_manifest(samples_for({"normal": 1, "type1": 1, "type2": 1}), CLASSES, "ok", "toy")


def test_no_samples():
    with pytest.raises(DatasetError, match="toy: the dataset holds no samples"):
        validate_manifest([], CLASSES, "normal", "toy")


def test_duplicate_class_names():
    with pytest.raises(DatasetError, match="duplicate class names"):
        validate_manifest(samples_for({"normal": 1}), ("normal", "normal"), "normal", "toy")


def test_build_runs_validation():
    with pytest.raises(DatasetError, match="toy: "):
        Toy(samples_for({"normal": 2, "type1": 2}), CLASSES).load()


# -- labels and tasks ------------------------------------------------------------


def test_task_labels_multiclass_follow_class_order():
    samples = [Sample("a", "type2", arr(0)), Sample("b", "normal", arr(1)), Sample("c", "type1", arr(2))]
    labels = task_labels(samples, CLASSES, "normal", Task.MULTICLASS)
    assert labels.tolist() == [2, 0, 1] and labels.dtype == np.int64
    # the normal class need not be first
    assert task_labels(samples, ("type1", "type2", "normal"), "normal", Task.MULTICLASS).tolist() == [1, 2, 0]


def test_task_labels_binary():
    samples = [Sample("a", "type2", arr(0)), Sample("b", "normal", arr(1)), Sample("c", "type1", arr(2))]
    labels = task_labels(samples, CLASSES, "normal", Task.BINARY)
    assert labels.tolist() == [1, 0, 1] and labels.dtype == np.int64


def test_task_labels_binary_without_normal_class():
    with pytest.raises(DatasetError, match="binary task needs a dataset with a normal class"):
        task_labels(samples_for({"type1": 1}), ("type1",), None, Task.BINARY)


def test_loaded_dataset_fields_and_tasks():
    data = toy()
    assert data.name == "toy" and data.version == "3"
    assert data.class_names == CLASSES
    assert data.tasks == (Task.BINARY, Task.MULTICLASS)
    assert data.task_class_names(Task.BINARY) == BINARY_CLASS_NAMES == ("normal", "defect")
    assert data.task_class_names(Task.MULTICLASS) == CLASSES
    assert data.labels(Task.MULTICLASS).tolist() == [0] * 8 + [1] * 5 + [2] * 4
    assert data.labels(Task.BINARY).tolist() == [0] * 8 + [1] * 9
    assert data.augmentation == AugmentationPolicy(geometric=True, photometric=True)
    assert data.options == {"scale": 1.0}
    assert data.fingerprint == fingerprint_samples(data.samples)
    assert isinstance(data.samples, tuple)


def test_loaded_dataset_without_normal_class_is_multiclass_only():
    data = toy(normal=None)
    assert data.tasks == (Task.MULTICLASS,)
    with pytest.raises(DatasetError):
        data.labels(Task.BINARY)


def test_adapter_options_are_strict():
    with pytest.raises(ValidationError):
        Options(scale=1.0, scael=2.0)
    assert Toy([], options=Options(scale=2.0)).options.scale == 2.0


# -- fingerprint ---------------------------------------------------------------------


def test_fingerprint_order_independent():
    samples = samples_for({"normal": 3, "type1": 2, "type2": 2})
    assert fingerprint_samples(samples) == fingerprint_samples(list(reversed(samples)))
    assert len(fingerprint_samples(samples)) == 64


def test_fingerprint_changes_with_label_id_and_array():
    samples = samples_for({"normal": 3, "type1": 2, "type2": 2})
    base = fingerprint_samples(samples)
    relabelled = [Sample(samples[0].id, "type1", samples[0].image), *samples[1:]]
    renamed = [Sample("renamed", samples[0].label, samples[0].image), *samples[1:]]
    edited_image = samples[0].image.copy()
    edited_image[0, 0, 0] ^= 1
    edited = [Sample(samples[0].id, samples[0].label, edited_image), *samples[1:]]
    reshaped = [Sample(samples[0].id, samples[0].label, samples[0].image.reshape(3, 12, 3)), *samples[1:]]
    with_mask = [
        Sample(samples[0].id, samples[0].label, samples[0].image, mask=np.zeros((6, 6), np.uint8)),
        *samples[1:],
    ]
    with_meta = [Sample(samples[0].id, samples[0].label, samples[0].image, metadata={"x": 1.5}), *samples[1:]]
    fingerprints = {
        fingerprint_samples(v) for v in (samples, relabelled, renamed, edited, reshaped, with_mask, with_meta)
    }
    assert len(fingerprints) == 7
    assert base in fingerprints


def test_fingerprint_same_content_same_value():
    a = samples_for({"normal": 2})
    b = [Sample(s.id, s.label, s.image.copy()) for s in a]
    assert fingerprint_samples(a) == fingerprint_samples(b)


def test_fingerprint_files(tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"img{i}.png"
        path.write_bytes(png_bytes(i))
        paths.append(path)
    samples = [Sample(f"s{i}", "normal", p) for i, p in enumerate(paths)]
    base = fingerprint_samples(samples)
    # moving files does not matter, only ids, labels and bytes
    moved = tmp_path / "moved"
    moved.mkdir()
    copies = []
    for p in paths:
        target = moved / p.name
        target.write_bytes(p.read_bytes())
        copies.append(target)
    assert fingerprint_samples([Sample(f"s{i}", "normal", p) for i, p in enumerate(copies)]) == base
    # one byte of one file changes it
    data = bytearray(paths[1].read_bytes())
    data[-1] ^= 0xFF
    paths[1].write_bytes(bytes(data))
    assert fingerprint_samples(samples) != base


def test_fingerprint_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "gone.png"
    with pytest.raises(DatasetError) as info:
        fingerprint_samples([Sample("s1", "normal", missing)])
    assert str(missing) in str(info.value) and "'s1'" in str(info.value)


def test_fingerprint_missing_mask_names_the_path(tmp_path):
    image = tmp_path / "ok.png"
    image.write_bytes(png_bytes())
    mask = tmp_path / "no-mask.png"
    with pytest.raises(DatasetError, match=r"no-mask\.png"):
        fingerprint_samples([Sample("s1", "normal", image, mask=mask)])


def test_file_sha256_equals_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    data = np.random.default_rng(0).bytes(3 * 1024 + 17)
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert file_sha256(path) == expected
    assert file_sha256(path, chunk_size=1000) == expected  # several chunks
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()


# -- make_views ----------------------------------------------------------------------


@pytest.fixture
def dataset() -> LoadedDataset:
    return toy({"normal": 10, "type1": 6, "type2": 5})


def views(dataset: LoadedDataset, task: Task):
    split = make_split(dataset.labels(Task.MULTICLASS), SplitConfig(), seed=0)
    return split, make_views(dataset, task, (split.train, split.val, split.test))


def test_make_views_blank_test_labels(dataset):
    split, (_train, _val, test) = views(dataset, Task.MULTICLASS)
    assert isinstance(test, UnlabeledSplit) and not isinstance(test, LabeledSplit)
    assert len(test) == len(split.test)
    assert all(sample.label == "" for sample in test.samples)
    assert not hasattr(test, "labels")
    assert test.ids == [dataset.samples[i].id for i in split.test]
    # the image data is passed through untouched
    assert all(a.image is dataset.samples[i].image for a, i in zip(test.samples, split.test, strict=True))
    # the dataset itself keeps its labels
    assert all(s.label for s in dataset.samples)


def test_make_views_train_and_val_labels(dataset):
    split, (train, val, _) = views(dataset, Task.MULTICLASS)
    for view, index in ((train, split.train), (val, split.val)):
        assert view.ids == [dataset.samples[i].id for i in index]
        assert view.labels.tolist() == [CLASSES.index(dataset.samples[i].label) for i in index]
        assert [s.label for s in view.samples] == [dataset.samples[i].label for i in index]
    assert train.class_counts().tolist() == np.bincount(dataset.labels(Task.MULTICLASS)[split.train]).tolist()


def test_make_views_binary(dataset):
    split, (train, val, test) = views(dataset, Task.BINARY)
    assert train.class_names == val.class_names == test.class_names == ("normal", "defect")
    assert train.normal_index == test.normal_index == 0
    assert train.num_classes == 2
    assert train.labels.tolist() == [0 if dataset.samples[i].label == "normal" else 1 for i in split.train]
    assert train.task is Task.BINARY


def test_make_views_multiclass_normal_index():
    data = toy({"type1": 3, "normal": 4, "type2": 3}, class_names=("type1", "normal", "type2"))
    _, (train, val, test) = views(data, Task.MULTICLASS)
    assert train.normal_index == val.normal_index == test.normal_index == 1
    assert test.num_classes == 3
    assert test.dataset_name == "toy" and test.dataset_fingerprint == data.fingerprint
    assert test.augmentation.geometric is True


def test_make_views_without_normal_class():
    data = toy(normal=None)
    _, (train, _, test) = views(data, Task.MULTICLASS)
    assert train.normal_index is None and test.normal_index is None


# -- Predictions ------------------------------------------------------------------------


def test_predictions_from_labels_and_probabilities():
    p = Predictions.from_labels([0, 2, 1])
    assert p.labels.dtype == np.int64 and p.probabilities is None
    p.validate(3, 3)
    probs = np.array([[0.1, 0.9], [0.8, 0.2]])
    q = Predictions.from_probabilities(probs)
    assert q.labels.tolist() == [1, 0]
    q.validate(2, 2)


def test_predictions_empty_is_valid():
    Predictions.from_labels([]).validate(0, 3)


@pytest.mark.parametrize(("labels", "n"), [([0, 1], 3), ([0, 1, 1, 0], 3), ([[0, 1, 1]], 3)])
def test_predictions_wrong_shape(labels, n):
    with pytest.raises(ValueError, match="labels for"):
        Predictions.from_labels(labels).validate(n, 2)


@pytest.mark.parametrize("labels", [[0, 2], [-1, 0], [5, 0]])
def test_predictions_out_of_range(labels):
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        Predictions.from_labels(labels).validate(2, 2)


def test_predictions_probability_shape():
    with pytest.raises(ValueError, match="probabilities have shape"):
        Predictions(np.array([0, 1]), np.ones((2, 3)) / 3).validate(2, 2)
    with pytest.raises(ValueError, match="probabilities have shape"):
        Predictions(np.array([0, 1]), np.ones(2)).validate(2, 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_predictions_non_finite_probabilities(bad):
    probs = np.array([[0.5, 0.5], [bad, 0.2]])
    with pytest.raises(ValueError, match="non-finite"):
        Predictions(np.array([0, 1]), probs).validate(2, 2)


# -- imaging ---------------------------------------------------------------------------


def test_load_image_valid_png(tmp_path):
    path = tmp_path / "ok.png"
    path.write_bytes(png_bytes(3, size=20))
    image = load_image(Sample("s", "normal", path))
    assert image.mode == "RGB" and image.size == (20, 20)
    assert np.array_equal(np.asarray(image), arr(3, (20, 20, 3)))
    assert load_image(Sample("s", "normal", path), mode="L").mode == "L"
    assert load_image(Sample("s", "normal", str(path))).size == (20, 20)  # str paths too


def test_load_image_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    data = png_bytes(4, size=64)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError) as info:
        load_image(Sample("cut-1", "normal", path))
    assert str(path) in str(info.value) and "'cut-1'" in str(info.value)
    assert "truncated" in str(info.value) or "corrupt" in str(info.value)


def test_load_image_random_bytes(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(DatasetError, match=r"noise\.png"):
        load_image(Sample("n", "normal", path))


def test_load_image_missing_file(tmp_path):
    path = tmp_path / "absent.png"
    with pytest.raises(DatasetError, match="image file not found") as info:
        load_image(Sample("a", "normal", path))
    assert str(path) in str(info.value)


def test_load_image_directory_is_dataset_error(tmp_path):
    with pytest.raises(DatasetError):
        load_image(Sample("d", "normal", tmp_path))


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4)])
def test_load_image_in_memory_arrays(shape):
    image = load_image(Sample("m", "normal", arr(1, shape)))
    assert image.mode == "RGB" and image.size == (7, 5)
    if len(shape) == 2:
        assert np.array_equal(np.asarray(image)[..., 0], arr(1, shape))
    else:
        assert np.array_equal(np.asarray(image), arr(1, shape)[..., :3])


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4), np.float32), np.zeros((4,), np.uint8), np.zeros((2, 2, 2, 3), np.uint8)]
)
def test_load_image_rejects_bad_arrays(bad):
    with pytest.raises(DatasetError, match=r"'m'.*uint8 HxW"):
        load_image(Sample("m", "normal", bad))


@pytest.mark.parametrize("channels", [1, 5])
def test_load_image_odd_channel_counts(channels):
    array = arr(2, (4, 4, channels))
    try:
        image = load_image(Sample("m", "normal", array))
    except DatasetError:
        return  # a clear refusal naming the sample is fine
    assert image.size == (4, 4)


def test_load_mask(tmp_path):
    mask = np.zeros((6, 6), np.uint8)
    mask[1:3, 2:5] = 255
    path = tmp_path / "mask.png"
    Image.fromarray(mask).save(path)
    loaded = load_mask(Sample("s", "normal", arr(0), mask=path))
    assert loaded.dtype == bool and loaded.sum() == 6
    assert np.array_equal(load_mask(Sample("s", "normal", arr(0), mask=mask)), mask > 0)
    assert load_mask(Sample("s", "normal", arr(0))) is None


def test_verify_images(tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(1))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    verify_images([Sample("g", "normal", good), Sample("a", "normal", arr(0))])
    with pytest.raises(DatasetError, match=r"bad\.png"):
        verify_images([Sample("g", "normal", good), Sample("b", "normal", bad)])
    with pytest.raises(DatasetError, match=r"missing-mask\.png"):
        verify_images([Sample("g", "normal", good, mask=tmp_path / "missing-mask.png")])
    verify_images([])


def test_verify_images_lists_every_bad_file_at_once(tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(1))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    samples = [
        Sample("t", "normal", tmp_path / "text.png"),
        Sample("g", "normal", good, mask=tmp_path / "gone.png"),
        Sample("e", "normal", tmp_path / "empty.png"),
    ]
    with pytest.raises(DatasetError) as info:
        verify_images(samples, source="dataset 'x'", root=tmp_path)
    assert str(info.value).splitlines() == [
        "dataset 'x' has 3 problems: 1 non-image file, 1 empty file, 1 missing file",
        "  empty.png: empty file (0 bytes)",
        "  gone.png: missing file (not found)",
        "  text.png: non-image file (no image format recognised)",
    ]
