"""The ASE domain's offline stand-ins: registration and honesty, the dot-cloud describer and its measurements, the reasoner."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from asebench.annotation.backends import BACKENDS, TextRequest, make_backend
from asebench.annotation.errors import BackendError
from asebench.api.errors import ConfigError
from asebench.datasets.ase_synth import generator as gen
from asebench.datasets.ase_synth import rendering
from asebench.domains.ase.class_statistics import ClassStatistics
from asebench.domains.ase.measure import measure
from asebench.domains.ase.ocr_reading import OcrReading
from asebench.domains.ase.prompts import LLM_PROMPT, VLM_PROMPT
from asebench.domains.ase.stand_ins import STAND_IN_BACKENDS
from asebench.domains.ase.stand_ins.dot_cloud_describer import describe_features
from asebench.domains.ase.stand_ins.numeric_reasoner import decide


@pytest.fixture(scope="module")
def assets() -> rendering.RenderAssets:
    return rendering.build_assets()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def blob(
    center: tuple[float, float],
    sigmas: tuple[float, float] = (4.0, 4.0),
    angle: float = 0.0,
    n: int = 15000,
    seed: int = 0,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, -s], [s, c]])
    return rng.standard_normal((n, 2)) * np.asarray(sigmas) @ rotation.T + np.asarray(center)


def vlm_request(image: Image.Image, seed: int = 0) -> TextRequest:
    return TextRequest(role="vlm", prompt=VLM_PROMPT, image_png=png(image), seed=seed, sample_id="s")


# --------------------------------------------------------------------------- registry and honesty


def test_every_backend_is_registered_and_built_by_name() -> None:
    assert set(BACKENDS) == {"openai", "transformers", "cache", "dot-cloud-describer", "numeric-reasoner"}
    for name in BACKENDS:
        backend = make_backend(name)
        assert backend.name == name and isinstance(backend.provenance(), dict)
    with pytest.raises(ConfigError, match="unknown text backend 'gpt'"):
        make_backend("gpt")
    with pytest.raises(ConfigError, match="rings"):
        make_backend("dot-cloud-describer", {"rings": 0})
    with pytest.raises(ConfigError, match="bad options"):
        make_backend("numeric-reasoner", {"temperature": 1.0})


def test_the_stand_ins_never_present_themselves_as_a_vlm_or_llm() -> None:
    describer, reasoner = make_backend("dot-cloud-describer"), make_backend("numeric-reasoner")
    assert {describer.name, reasoner.name} == STAND_IN_BACKENDS
    assert describer.provenance()["kind"] == "deterministic image-measurement stand-in, not a VLM"
    assert describer.provenance()["is_vlm"] is False and reasoner.provenance()["is_llm"] is False
    assert "not an LLM" in reasoner.provenance()["kind"]
    assert "not a VLM" in (type(describer).__doc__ or "") and "not an LLM" in (type(reasoner).__doc__ or "")
    for name in (describer.name, describer.model, reasoner.name, reasoner.model):
        assert "vlm" not in name.lower() and "llm" not in name.lower() and "gpt" not in name.lower()
    with pytest.raises(BackendError, match="only plays the 'vlm' role"):
        describer.generate(TextRequest(role="llm", prompt=LLM_PROMPT, text="x"))
    with pytest.raises(BackendError, match="only plays the 'llm' role"):
        reasoner.generate(TextRequest(role="vlm", prompt=VLM_PROMPT, image_png=b"x"))


# --------------------------------------------------------------------------- describer


@pytest.mark.parametrize(
    ("center", "word"),
    [((15.0, 15.0), "top-right"), ((-16.0, 0.0), "left"), ((0.0, -14.0), "bottom"), ((-12.0, 12.0), "top-left")],
)
def test_the_describer_names_the_direction_of_a_placed_cloud(
    assets: rendering.RenderAssets, center: tuple[float, float], word: str
) -> None:
    image = rendering.render_aoi(blob(center), assets=assets).image
    features = measure(image)
    assert features["has_dot_cloud"] == 1.0 and features["axes_found"] == 1.0
    assert features["offset_x"] * 50 == pytest.approx(center[0], abs=1.5)
    assert features["offset_y"] * 50 == pytest.approx(center[1], abs=1.5)
    text = make_backend("dot-cloud-describer").generate(vlm_request(image))
    assert text.startswith("The pink dot group is not distributed in the middle")
    assert f"toward the {word}," in text


def test_a_centred_round_cloud_is_described_as_in_the_middle(assets: rendering.RenderAssets) -> None:
    text = make_backend("dot-cloud-describer").generate(
        vlm_request(rendering.render_aoi(blob((0.3, -0.3)), assets=assets).image)
    )
    assert "distributed in the middle" in text and "roughly round" in text and "single dense group" in text


def test_elongation_two_clusters_and_a_halo_are_measured(assets: rendering.RenderAssets) -> None:
    ellipse = measure(rendering.render_aoi(blob((10.0, 10.0), (12.0, 3.0), math.pi / 4), assets=assets).image)
    assert ellipse["elongation"] > 2.5 and abs(ellipse["orientation_deg"] - 45.0) < 8.0
    text = describe_features(ellipse)
    assert "ellipse elongated toward the top-right" in text and "bottom-left to top-right" in text

    pair = np.vstack([blob((-20.0, 0.0), n=8000), blob((20.0, 0.0), n=8000, seed=1)])
    two = measure(rendering.render_aoi(pair, assets=assets).image)
    assert two["n_clusters"] == 2.0 and "two separate dense groups" in describe_features(two)

    rng = np.random.default_rng(2)
    halo_points = rng.uniform(-48, 48, size=(6000, 2))
    haloed = measure(rendering.render_aoi(np.vstack([blob((0.0, 0.0), n=20000), halo_points]), assets=assets).image)
    single = measure(rendering.render_aoi(blob((0.0, 0.0), n=20000), assets=assets).image)
    assert single["halo_share"] < 0.015 and single["n_clusters"] == 1.0
    assert haloed["halo_share"] > max(0.02, 3 * single["halo_share"])
    assert "halo" in describe_features(haloed) and "halo" not in describe_features(single)


def test_the_describer_agrees_with_the_sign_of_the_printed_means_on_ase_synth(assets: rendering.RenderAssets) -> None:
    checked = 0
    for number in range(1, 13):
        rendered = gen.generate_sample("type1", number, points_scale=0.4, assets=assets)
        truth = rendered.stats
        if math.hypot(truth.x_avg, truth.y_avg) < 4.0:
            continue
        features = measure(rendered.image)
        for printed, measured in ((truth.x_avg, features["offset_x"]), (truth.y_avg, features["offset_y"])):
            if abs(printed) > 2.0:
                assert np.sign(measured) == np.sign(printed)
                assert measured * 50 == pytest.approx(printed, abs=1.5)
        checked += 1
        text = describe_features(features)
        horizontal = "right" if truth.x_avg > 0 else "left"
        vertical = "top" if truth.y_avg > 0 else "bottom"
        where = text.split("toward the ", 1)[1].split(",", 1)[0]
        assert horizontal in where or vertical in where
    assert checked >= 4


def test_seeds_vary_the_wording_but_not_the_facts(assets: rendering.RenderAssets) -> None:
    image = rendering.render_aoi(blob((12.0, 6.0), (8.0, 4.0), 0.3), assets=assets).image
    describer = make_backend("dot-cloud-describer")
    texts = [describer.generate(vlm_request(image, seed)) for seed in range(6)]
    assert texts[0] == describer.generate(vlm_request(image, 0))
    assert len(set(texts)) >= 4
    facts = measure(image)
    share = f"{round(100 * facts['offset'])}%"
    assert all(share in text and "right" in text for text in texts)


def test_a_grayscale_steel_texture_gets_a_texture_description() -> None:
    rng = np.random.default_rng(3)
    stripes = 110 + 40 * np.sin(np.arange(200) / 2.5)[:, None] + rng.normal(0, 8, size=(200, 200))
    image = Image.fromarray(stripes.clip(0, 255).astype(np.uint8), mode="L")
    features = measure(image)
    assert features["has_dot_cloud"] == 0.0 and features["colourfulness"] < 0.01
    text = make_backend("dot-cloud-describer").generate(vlm_request(image))
    assert "no pink dot cloud" in text and "grey" in text and "horizontally" in text


# --------------------------------------------------------------------------- reasoner


def statistics(
    ocr_means: dict[str, dict[str, float]], feature_means: dict[str, dict[str, float]] | None = None
) -> dict:
    names = list(ocr_means)
    return {
        "class_names": names,
        "ocr_means": ocr_means,
        "feature_means": feature_means or {n: {} for n in names},
        "support": dict.fromkeys(names, 10),
    }


def llm_request(facts: dict, seed: int = 0) -> TextRequest:
    return TextRequest(role="llm", prompt=LLM_PROMPT, text="(description)", facts=facts, seed=seed)


def test_the_reasoner_picks_the_nearest_class_mean_and_names_its_evidence() -> None:
    stats = statistics(
        {
            "normal": {"count_r20": 1000.0, "x_avg": 0.5},
            "type1": {"count_r20": 5000.0, "x_avg": 6.0},
            "type2": {"count_r20": 2500.0, "x_avg": 1.0},
        }
    )
    facts = {"ocr": {"count_r20": 4800, "x_avg": 5.1, "y_avg": None}, "features": {}, "class_statistics": stats}
    assert decide(facts).chosen == "type1"
    texts = [make_backend("numeric-reasoner").generate(llm_request(facts, seed)) for seed in range(4)]
    assert texts[0].startswith(
        "According to the description you have given and the shape/distribution information, "
        "these narratives most likely describe the class type1."
    )
    assert "The accumulated points between 15~20 (4800) are closest to type1's average (5000.0)." in texts[0]
    assert all("type1" in t for t in texts) and len(set(texts)) >= 2


def test_without_numbers_the_reasoner_decides_from_features_or_says_it_cannot() -> None:
    features = {"n": {"elongation": 1.1, "halo_share": 0.01}, "t2": {"elongation": 2.8, "halo_share": 0.01}}
    stats = statistics({"n": {"x_avg": 0.0}, "t2": {"x_avg": 1.0}}, features)
    facts = {"ocr": {"x_avg": None}, "features": {"elongation": 2.5, "has_dot_cloud": 1.0}, "class_statistics": stats}
    text = make_backend("numeric-reasoner").generate(llm_request(facts))
    assert "class t2" in text and "elongation (2.50)" in text
    nothing = make_backend("numeric-reasoner").generate(
        llm_request({"ocr": {}, "features": {}, "class_statistics": None})
    )
    assert "not enough to decide" in nothing


@pytest.mark.neu
def test_real_neu_det_steel_images_get_texture_descriptions() -> None:
    from asebench.datasets.neu_det import NeuDet, NeuDetOptions

    options = NeuDetOptions(limit_per_class=1)
    reason = NeuDet.availability(options)
    if reason is not None:
        pytest.skip(reason)
    describer = make_backend("dot-cloud-describer")
    for sample in NeuDet(options).load().samples:
        features = measure(sample)
        assert features["has_dot_cloud"] == 0.0
        assert "no pink dot cloud" in describer.generate(vlm_request(Image.open(sample.image)))


def test_reasoner_scales_differences_by_the_within_class_spread() -> None:
    """A key whose classes overlap a lot must not outvote a key that separates them cleanly."""

    def reading(x_avg: float, y_avg: float) -> OcrReading:
        return OcrReading.from_flat({"x_avg": x_avg, "y_avg": y_avg}, "test", "1")

    # x_avg: class means 0 and 10, within-class spread 0.1 (clean); y_avg: means 0 and 2, spread 20 (noise)
    train = [reading(-0.1, -20), reading(0.1, 20), reading(9.9, -18), reading(10.1, 22)]
    stats = ClassStatistics.fit(train, [0, 0, 1, 1], ["a", "b"])
    assert stats.ocr_spread["x_avg"] == pytest.approx(0.1) and stats.ocr_spread["y_avg"] == pytest.approx(20.0)
    probe = reading(0.3, 2.0)  # x says "a" clearly; y sits on b's mean but means nothing at that spread
    decision = decide({"ocr": probe.as_flat(), "features": {}, "class_statistics": stats.to_json()})
    assert decision.chosen == "a"
