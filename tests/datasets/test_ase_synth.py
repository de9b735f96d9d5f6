"""Tests of the synthetic ASE dataset: counts, determinism, caching and printed-number consistency."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from asebench.api.registry import DATASETS
from asebench.datasets.ase_synth import adapter as ase_adapter
from asebench.datasets.ase_synth import clouds, rendering, table
from asebench.datasets.ase_synth import generator as gen
from asebench.datasets.ase_synth.adapter import AseSynth, AseSynthOptions, cache_location
from asebench.domains.ase.layout import RING_RADII_UM

SMALL = {"scale": 0.1, "points_scale": 0.05}
PAPER_COUNTS = {"normal": 225, "type1": 92, "type2": 44, "type3": 50, "type4": 44}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test generates into its own temporary cache root."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ASEBENCH_CACHE_DIR", str(root))
    return root


def _load(**options: object):
    return AseSynth(AseSynthOptions(**{**SMALL, **options})).load()


def _is_pink(pixels: np.ndarray) -> np.ndarray:
    """Pink to magenta dots; excludes white, grey/black ink and the dark-red ring."""
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return (r > 150) & (r - g > 40) & (b - g > 20)


def test_class_counts_match_the_paper_at_full_scale() -> None:
    assert gen.class_counts(1.0) == PAPER_COUNTS
    plan = gen.sample_plan(1.0)
    assert len(plan) == 455
    assert len({sample_id for sample_id, _, _ in plan}) == 455
    assert plan[0] == ("normal_0001", "normal", 1)
    assert ("type4_0044", "type4", 44) in plan


def test_small_scale_keeps_every_class() -> None:
    counts = gen.class_counts(0.1)
    assert counts == {"normal": 23, "type1": 9, "type2": 5, "type3": 5, "type4": 5}


def test_registered_with_the_contract() -> None:
    assert DATASETS.get("ase-synth") is AseSynth
    assert AseSynth.augmentation.geometric is False and AseSynth.augmentation.photometric is True
    assert AseSynth.version == gen.GENERATOR_VERSION


def test_import_stays_light() -> None:
    code = "import sys, asebench.datasets.ase_synth; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_load_builds_a_valid_dataset() -> None:
    dataset = _load()
    assert dataset.name == "ase-synth"
    assert dataset.class_names == clouds.CLASS_NAMES
    assert dataset.normal_class == "normal"
    labels = [sample.label for sample in dataset.samples]
    assert {name: labels.count(name) for name in clouds.CLASS_NAMES} == gen.class_counts(0.1)
    for sample in dataset.samples:
        assert isinstance(sample.image, Path) and sample.image.name == f"{sample.id}.png"
    assert dataset.samples[0].id == "normal_0001"


def test_images_have_the_expected_size_and_pink_dots_on_the_left() -> None:
    dataset = _load(image_width=640, image_height=360)
    for sample in dataset.samples[:: max(1, len(dataset.samples) // 6)]:
        with Image.open(sample.image) as image:
            assert image.size == (640, 360) and image.mode == "RGB"
            pixels = np.asarray(image)
        pink = _is_pink(pixels)
        assert pink[:, :320].sum() > 200
        assert pink[:, 320:].sum() == 0


def test_png_bytes_carry_no_metadata_chunks() -> None:
    data = gen.encode_png(gen.generate_sample("normal", 1, points_scale=0.02).image)
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"tIME", b"pHYs"):
        assert chunk not in data


def test_same_options_give_byte_identical_files(tmp_path: Path) -> None:
    first = _load(cache_dir=tmp_path / "a")
    second = _load(cache_dir=tmp_path / "b")
    assert first.fingerprint == second.fingerprint
    for a, b in zip(first.samples, second.samples, strict=True):
        assert a.image != b.image
        assert Path(a.image).read_bytes() == Path(b.image).read_bytes()
    manifest = ase_adapter.MANIFEST
    assert (Path(first.samples[0].image).parent / manifest).read_bytes() == (
        Path(second.samples[0].image).parent / manifest
    ).read_bytes()


def test_a_different_seed_gives_different_images() -> None:
    assets = rendering.build_assets()
    image_0 = gen.encode_png(gen.generate_sample("type3", 2, seed=0, points_scale=0.05, assets=assets).image)
    image_1 = gen.encode_png(gen.generate_sample("type3", 2, seed=1, points_scale=0.05, assets=assets).image)
    assert image_0 != image_1
    assert cache_location(AseSynthOptions(seed=0)) != cache_location(AseSynthOptions(seed=1))


def test_a_sample_does_not_depend_on_the_dataset_size() -> None:
    small, larger = _load(), _load(scale=0.2)
    by_id = {sample.id: sample for sample in larger.samples}
    for sample in small.samples:
        assert Path(sample.image).read_bytes() == Path(by_id[sample.id].image).read_bytes()


def test_printed_numbers_come_from_the_plotted_points() -> None:
    dataset = _load()
    for sample in dataset.samples[::4]:
        label, number = sample.id.split("_")
        points = gen.simulate_points(label, int(number), seed=0, separation=1.0, points_scale=0.05)
        radius = np.hypot(points[:, 0], points[:, 1])
        assert radius.max() <= clouds.PLOT_RADIUS_UM
        meta = sample.metadata
        for ring in RING_RADII_UM:
            lower = -np.inf if ring == 5 else ring - 5
            expected = int(((radius > lower) & (radius <= ring)).sum())
            assert meta[f"count_r{ring:02d}"] == expected
        assert sum(meta[f"count_r{ring:02d}"] for ring in RING_RADII_UM) == meta["n_points"] == len(points)
        for key, value in (
            ("x_avg", points[:, 0].mean()),
            ("y_avg", points[:, 1].mean()),
            ("x_std", points[:, 0].std()),
            ("y_std", points[:, 1].std()),
        ):
            assert abs(meta[key] - value) <= 0.0005 + 1e-9
            assert meta[key] == round(meta[key], 3)


def test_render_aoi_bins_explicit_points_by_annulus() -> None:
    points = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0001], [30.0, 40.0], [-49.0, 0.0], [40.0, 40.0], [60.0, 0.0]])
    rendered = rendering.render_aoi(points)
    assert rendered.stats.counts == (2, 1, 0, 0, 0, 0, 0, 0, 0, 2)
    kept = points[:5]
    assert rendered.stats.x_avg == round(float(kept[:, 0].mean()), 3)
    assert rendered.stats.y_std == round(float(kept[:, 1].std()), 3)
    assert rendered.image.size == (rendering.DEFAULT_WIDTH, rendering.DEFAULT_HEIGHT)


def test_metadata_holds_only_printed_numbers() -> None:
    dataset = _load()
    expected = {f"count_r{ring:02d}" for ring in RING_RADII_UM} | {"x_avg", "y_avg", "x_std", "y_std", "n_points"}
    for sample in dataset.samples:
        assert set(sample.metadata) == expected
        assert not any(word in key.lower() for key in sample.metadata for word in ("label", "class", "type"))


def test_second_load_reads_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _load()
    mtimes = {sample.id: os.stat(sample.image).st_mtime_ns for sample in first.samples}

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache must not be regenerated")

    monkeypatch.setattr(gen, "generate_sample", forbidden)
    monkeypatch.setattr(gen, "build_assets", forbidden)
    second = _load()
    assert second.fingerprint == first.fingerprint
    assert {sample.id: os.stat(sample.image).st_mtime_ns for sample in second.samples} == mtimes


def test_an_interrupted_generation_is_never_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    options = AseSynthOptions(**SMALL)
    final = cache_location(options)
    stale = final.parent / f".{final.name}.tmp-killed"
    stale.mkdir(parents=True)
    (stale / "normal_0001.png").write_bytes(b"half a png")
    real = gen.generate_sample
    calls = {"n": 0}

    def crash_after_three(*args: object, **kwargs: object):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(gen, "generate_sample", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        AseSynth(options).load()
    assert not final.exists()
    assert [p.name for p in final.parent.iterdir()] == [stale.name]  # our own staging was removed

    monkeypatch.setattr(gen, "generate_sample", real)
    dataset = AseSynth(options).load()
    assert len(dataset.samples) == sum(gen.class_counts(0.1).values())
    with Image.open(dataset.samples[0].image) as image:
        image.load()


def test_unknown_or_invalid_options_are_rejected() -> None:
    with pytest.raises(ValidationError):
        AseSynthOptions(sede=1)
    with pytest.raises(ValidationError):
        AseSynthOptions(separation=-0.5)
    with pytest.raises(ValidationError):
        AseSynthOptions(scale=0)
    with pytest.raises(ValidationError):
        AseSynthOptions(points_scale=float("nan"))


@pytest.mark.parametrize("label", ["type1", "type2", "type3", "type4"])
def test_separation_zero_makes_a_defect_sample_a_normal_sample(label: str) -> None:
    normal = clouds.draw_params("normal", np.random.default_rng(7))
    defect = clouds.draw_params(label, np.random.default_rng(7), separation=0.0)
    a = clouds.sample_points(normal, np.random.default_rng(11))
    b = clouds.sample_points(defect, np.random.default_rng(11))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def _class_mean_gap(separation: float, key: str, label: str) -> float:
    """Mean of ``key`` over ``label`` minus over ``normal``, at full-scale counts and few points."""
    counts = gen.class_counts(1.0)

    def values(name: str) -> list[float]:
        points = (
            gen.simulate_points(name, n, separation=separation, points_scale=0.02) for n in range(1, counts[name] + 1)
        )
        return [table.compute_stats(p).as_metadata()[key] for p in points]

    return float(np.mean(values(label)) - np.mean(values("normal")))


def test_separation_controls_how_far_defects_move_from_normal() -> None:
    assert abs(_class_mean_gap(0.0, "x_avg", "type1")) < 1.0
    assert _class_mean_gap(1.0, "x_avg", "type1") > 2.0
    assert abs(_class_mean_gap(0.0, "x_std", "type4")) < 0.6
    assert _class_mean_gap(1.0, "x_std", "type4") > 1.0
