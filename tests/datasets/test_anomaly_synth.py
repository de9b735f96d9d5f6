"""Tests of ``anomaly-synth``: exact masks, MVTec layout, determinism, the two domains, options, runner access."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from asebench.api.data import LoadedDataset, Task
from asebench.api.registry import DATASETS
from asebench.datasets.anomaly_synth import adapter as synth_adapter
from asebench.datasets.anomaly_synth import generator as gen
from asebench.datasets.anomaly_synth.adapter import AnomalySynth, AnomalySynthOptions, cache_location
from asebench.datasets.anomaly_synth.defects import MIN_CHANGE, force_change, kinds_of
from asebench.datasets.anomaly_synth.scenes import CATEGORIES, OBJECTS, TEXTURES
from asebench.datasets.mvtec import MVTecAD, MVTecOptions
from asebench.run.cell import anomaly_inputs
from asebench.run.splits import Split

SMALL = {
    "image_size": 64,
    "train_per_category": 3,
    "test_good_per_category": 2,
    "test_defect_per_kind": 2,
    "categories": ["grid", "washer"],
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test generates into its own temporary cache root."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ASEBENCH_CACHE_DIR", str(root))
    return root


def _options(**overrides: object) -> AnomalySynthOptions:
    return AnomalySynthOptions(**{**SMALL, **overrides})


def _load(**overrides: object) -> LoadedDataset:
    return AnomalySynth(_options(**overrides)).load()


def _pixels(path: object) -> np.ndarray:
    assert isinstance(path, Path)
    return np.asarray(Image.open(path))


def test_registered_and_listed() -> None:
    assert DATASETS.get("anomaly-synth") is AnomalySynth
    assert "anomaly-synth" in DATASETS.names()
    assert AnomalySynth.version == gen.GENERATOR_VERSION


def test_import_stays_light() -> None:
    code = "import sys, asebench.datasets.anomaly_synth; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_categories_and_kinds() -> None:
    assert len(TEXTURES) == 3 and len(OBJECTS) == 3
    for category in TEXTURES:
        assert kinds_of(category) == ("scratch", "hole", "stain", "crack")
    for category in OBJECTS:
        assert {"missing_part", "extra_part"} <= set(kinds_of(category)) and len(kinds_of(category)) >= 4


@pytest.mark.parametrize("domain", ["a", "b"])
def test_every_defect_changes_exactly_its_mask(domain: str) -> None:
    """The pixels that differ from the same stream's normal image are the mask, no more, no less."""
    for category in CATEGORIES:
        for kind in kinds_of(category):
            for number in range(2):
                spec = gen.ImageSpec(category, "test", kind, number)
                rendered = gen.generate(spec, seed=3, domain=domain, size=64)
                assert rendered.mask is not None and rendered.normal is not None
                normal = gen.normal_of(spec, seed=3, domain=domain, size=64)
                np.testing.assert_array_equal(rendered.normal, normal)
                changed = np.any(rendered.image != normal, axis=-1)
                assert rendered.mask.any(), (category, kind, number)
                np.testing.assert_array_equal(changed, rendered.mask, err_msg=f"{category}/{kind}/{number}")


def test_force_change_moves_unchanged_masked_pixels_only() -> None:
    normal = np.array([[[0, 0, 0], [255, 255, 255], [120, 130, 140], [10, 10, 10]]], dtype=np.uint8)
    defective = normal.copy()
    defective[0, 3] = [200, 10, 10]  # already changed: kept as drawn
    mask = np.array([[True, True, True, True]])
    out = force_change(normal, defective, mask)
    assert np.all(np.any(out != normal, axis=-1) == mask)
    assert out[0, 0].tolist() == [MIN_CHANGE] * 3 and out[0, 1].tolist() == [255 - MIN_CHANGE] * 3
    assert out[0, 3].tolist() == [200, 10, 10]
    untouched = force_change(normal, normal.copy(), np.zeros((1, 4), dtype=bool))
    np.testing.assert_array_equal(untouched, normal)


def test_masks_on_disk_match_the_defect_pixels() -> None:
    dataset = _load(domain="b")
    defects = [s for s in dataset.samples if s.mask is not None]
    assert len(defects) == 2 * (4 + 5)
    for sample in defects:
        meta = sample.metadata
        image = _pixels(sample.image)
        spec = gen.ImageSpec(str(meta["category"]), "test", str(meta["defect_type"]), int(Path(str(sample.image)).stem))
        normal = gen.normal_of(spec, seed=0, domain="b", size=64)
        mask = _pixels(sample.mask)
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        np.testing.assert_array_equal(np.any(image != normal, axis=-1), mask > 0, err_msg=sample.id)


def test_layout_and_split_semantics_are_mvtecs() -> None:
    options = _options()
    root = synth_adapter.ensure_generated(options)
    for category, kinds in (("grid", kinds_of("grid")), ("washer", kinds_of("washer"))):
        assert sorted(p.name for p in (root / category / "train").iterdir()) == ["good"]
        assert sorted(p.name for p in (root / category / "test").iterdir()) == sorted(["good", *kinds])
        assert sorted(p.name for p in (root / category / "ground_truth").iterdir()) == sorted(kinds)
        assert len(list((root / category / "train" / "good").glob("*.png"))) == 3
        assert len(list((root / category / "test" / "good").glob("*.png"))) == 2
        for kind in kinds:
            images = sorted((root / category / "test" / kind).glob("*.png"))
            assert [p.name for p in images] == ["000.png", "001.png"]
            for image in images:
                mask = root / category / "ground_truth" / kind / f"{image.stem}_mask.png"
                assert Image.open(mask).size == Image.open(image).size == (64, 64)


def test_samples_carry_category_split_and_masks() -> None:
    dataset = _load()
    assert dataset.name == "anomaly-synth" and dataset.normal_class == "good"
    assert dataset.tasks == (Task.BINARY, Task.MULTICLASS)
    expected = {"good"} | {f"grid/{k}" for k in kinds_of("grid")} | {f"washer/{k}" for k in kinds_of("washer")}
    assert set(dataset.class_names) == expected and dataset.class_names[0] == "good"
    for sample in dataset.samples:
        meta = dict(sample.metadata)
        assert set(meta) == {"category", "defect_type", "official_split"}
        if meta["official_split"] == "train":
            assert sample.label == "good" and meta["defect_type"] == "good"
        if meta["defect_type"] == "good":
            assert sample.mask is None
        else:
            assert meta["official_split"] == "test" and sample.label == f"{meta['category']}/{meta['defect_type']}"
            assert isinstance(sample.mask, Path)
    assert sum(s.metadata["official_split"] == "train" for s in dataset.samples) == 2 * 3


def test_loads_exactly_as_the_mvtec_adapter_reads_the_folder() -> None:
    options = _options()
    synthetic = AnomalySynth(options).load()
    as_mvtec = MVTecAD(MVTecOptions(root=cache_location(options))).load()
    assert synthetic.samples == as_mvtec.samples
    assert synthetic.class_names == as_mvtec.class_names
    assert synthetic.fingerprint == as_mvtec.fingerprint


def test_one_category_keeps_plain_defect_names() -> None:
    dataset = _load(categories=["pill"])
    assert dataset.class_names == ("good", *sorted(kinds_of("pill")))


def test_masks_reach_the_runner() -> None:
    dataset = _load()
    test = np.array([i for i, s in enumerate(dataset.samples) if s.metadata["official_split"] == "test"])
    train = np.array([i for i, s in enumerate(dataset.samples) if s.metadata["official_split"] == "train"])
    split = Split(train=train, val=train[:0], test=test)
    inputs = anomaly_inputs(dataset, split, np.zeros(len(test)), None)
    assert inputs is not None and inputs.masks is not None
    for index, truth, mask in zip(test, inputs.is_anomalous, inputs.masks, strict=True):
        sample = dataset.samples[index]
        assert truth == (sample.label != "good")
        if truth:
            assert mask is not None and mask.shape == (64, 64) and mask.any()
        else:
            assert mask is None


def test_same_options_same_fingerprint_other_seed_or_domain_differs(tmp_path: Path) -> None:
    first = _load(cache_dir=tmp_path / "one")
    again = _load(cache_dir=tmp_path / "two")
    assert first.fingerprint == again.fingerprint
    assert _load(seed=1).fingerprint != first.fingerprint
    assert _load(domain="b").fingerprint != first.fingerprint


def test_cache_is_content_addressed_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    options = _options()
    first = AnomalySynth(options).load()
    assert cache_location(options).parent.name == "anomaly-synth"
    assert cache_location(options).name.startswith(f"v{gen.GENERATOR_VERSION}-")
    assert cache_location(_options(seed=1)) != cache_location(options)
    assert cache_location(_options(domain="b")) != cache_location(options)
    # the category order is canonical: the same set shares one cache
    assert cache_location(_options(categories=["washer", "grid"])) == cache_location(options)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated although the cache exists")

    monkeypatch.setattr(synth_adapter, "write_images", fail)
    assert AnomalySynth(options).load().fingerprint == first.fingerprint


def test_an_image_does_not_depend_on_the_other_categories() -> None:
    alone = _load(categories=["grid"])
    together = _load()
    grid_alone = {s.id: _pixels(s.image) for s in alone.samples}
    for sample in together.samples:
        if sample.metadata["category"] == "grid":
            np.testing.assert_array_equal(_pixels(sample.image), grid_alone[sample.id])


def test_the_two_domains_look_different() -> None:
    """Domain a is bright and cool, b dark and warm, for textures and objects alike."""
    for category in ("weave", "grain", "grid", "washer", "bracket", "pill"):
        spec = gen.ImageSpec(category, "train", "good", 0)
        a = gen.normal_of(spec, seed=0, domain="a", size=64).astype(float)
        b = gen.normal_of(spec, seed=0, domain="b", size=64).astype(float)
        assert a.mean() - b.mean() > 40, category
        assert a[..., 2].mean() > a[..., 0].mean(), category  # a: more blue than red
        assert b[..., 0].mean() > b[..., 2].mean(), category  # b: more red than blue


def test_normal_images_vary() -> None:
    images = [
        gen.generate(gen.ImageSpec("washer", "train", "good", i), seed=0, domain="a", size=64).image for i in range(3)
    ]
    assert not np.array_equal(images[0], images[1]) and not np.array_equal(images[1], images[2])


def test_unknown_or_bad_options_are_rejected() -> None:
    with pytest.raises(ValidationError, match="colour"):
        AnomalySynthOptions(colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="domain"):
        AnomalySynthOptions(domain="c")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown category"):
        AnomalySynthOptions(categories=["carpet"])
    with pytest.raises(ValidationError, match="at least one"):
        AnomalySynthOptions(categories=[])
    with pytest.raises(ValidationError, match="twice"):
        AnomalySynthOptions(categories=["grid", "grid"])
    with pytest.raises(ValidationError):
        AnomalySynthOptions(image_size=8)


def test_default_options() -> None:
    options = AnomalySynthOptions()
    assert options.domain == "a" and options.image_size == 128 and options.categories == list(CATEGORIES)
    specs = gen.plan(options.categories, 40, 12, 4)
    assert len(specs) == 6 * (40 + 12) + 3 * 4 * 4 + 3 * 5 * 4 == 420
