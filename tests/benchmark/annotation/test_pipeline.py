"""The two-phase annotation stage: caching (zero calls on a rerun), leakage rule, stats, reproduction, any domain.

Most tests run it bound to the ASE plot (``asebench.domains.ase.annotation``),
as every method does; the last ones give it a toy domain, to show that the
stage itself knows nothing of ASE.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.annotation import (
    AnnotationCache,
    AnnotationDomain,
    AnnotationStats,
    BackendError,
    ImageAnnotation,
    ReadingFormat,
    TextBackend,
    TextBox,
    TextKey,
    TextRequest,
    make_backend,
    pipeline,
    text_records,
    write_text_records,
)
from asebench.annotation import make_ocr_engine as make_generic_ocr_engine
from asebench.annotation.image_input import to_pil
from asebench.api.data import Sample
from asebench.datasets.ase_synth import clouds, rendering
from asebench.datasets.ase_synth import generator as gen
from asebench.domains.ase.annotation import annotate_images, make_ocr_engine, reason
from asebench.domains.ase.class_statistics import ClassStatistics
from asebench.domains.ase.ocr_reading import OcrReading
from asebench.domains.ase.stand_ins.dot_cloud_describer import DotCloudDescriber
from asebench.domains.ase.stand_ins.numeric_reasoner import NumericReasoner
from asebench.domains.ase.templates import ocr_sentences

PLAN = [(label, number) for label in ("normal", "type1", "type2", "type4") for number in (1, 2, 3)]


class CountingDescriber(DotCloudDescriber):
    calls = 0

    def generate(self, request: TextRequest) -> str:
        type(self).calls += 1
        return super().generate(request)


class CountingReasoner(NumericReasoner):
    calls = 0

    def generate(self, request: TextRequest) -> str:
        type(self).calls += 1
        return super().generate(request)


class CountingOcr:
    """Reads Sample.metadata like ``ocr: metadata`` but is cached like a real engine, and counts reads."""

    name = "counting-metadata"
    version = "1"

    def __init__(self) -> None:
        self.calls = 0

    def availability(self) -> str | None:
        return None

    def read(self, image: Sample) -> OcrReading:
        self.calls += 1
        return OcrReading.from_flat(image.metadata, self.name, self.version)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    folder = tmp_path_factory.mktemp("ase")
    assets = rendering.build_assets(
        rendering.MIN_WIDTH, rendering.MIN_HEIGHT
    )  # small images keep the pixel measurements quick
    made = []
    for label, number in PLAN:
        rendered = gen.generate_sample(label, number, points_scale=0.3, assets=assets)
        path = folder / f"{label}_{number}.png"
        path.write_bytes(gen.encode_png(rendered.image))
        made.append(Sample(id=f"{label}_{number}", label=label, image=path, metadata=rendered.stats.as_metadata()))
    return made


@pytest.fixture(scope="module")
def annotated(samples: list[Sample], tmp_path_factory: pytest.TempPathFactory) -> dict[str, ImageAnnotation]:
    """Phase 1 over every sample, pool of two, for the tests that do not count calls."""
    cache = AnnotationCache(tmp_path_factory.mktemp("shared-annotations"))
    return annotate_images(samples, CountingOcr(), CountingDescriber(), cache, pool_size=2)


def split(samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample]]:
    return [s for s in samples if not s.id.endswith("_3")], [s for s in samples if s.id.endswith("_3")]


def fit(train: Sequence[Sample], annotations: dict[str, ImageAnnotation]) -> ClassStatistics:
    return ClassStatistics.fit(
        [annotations[s.id].ocr for s in train],
        [s.label for s in train],
        clouds.CLASS_NAMES,
        features=[annotations[s.id].features for s in train],
    )


def run_both_phases(samples: Sequence[Sample], cache: AnnotationCache, stats: AnnotationStats, pool: int = 2):
    ocr = CountingOcr()
    annotations = annotate_images(samples, ocr, CountingDescriber(), cache, pool_size=pool, stats=stats)
    train, _ = split(samples)
    llm = reason(samples, annotations, fit(train, annotations), CountingReasoner(), cache, pool_size=pool, stats=stats)
    return ocr, annotations, llm


def test_a_second_run_makes_no_backend_calls(tmp_path: Path, samples: list[Sample]) -> None:
    cache = AnnotationCache(tmp_path / "annotations")
    CountingDescriber.calls = CountingReasoner.calls = 0
    first_stats = AnnotationStats()
    ocr, annotations, llm = run_both_phases(samples, cache, first_stats)
    n = len(samples)
    assert ocr.calls == n and CountingDescriber.calls == 2 * n and CountingReasoner.calls == 2 * n
    assert first_stats.usage("vlm:dot-cloud-describer").calls == 2 * n
    assert first_stats.usage("measure").images == n and first_stats.total_hits() == 0
    per_image = first_stats.as_dict()["vlm:dot-cloud-describer"]["seconds_per_image"]
    assert per_image is not None and per_image > 0

    CountingDescriber.calls = CountingReasoner.calls = 0
    second_stats = AnnotationStats()
    ocr_again, annotations_again, llm_again = run_both_phases(samples, cache, second_stats)
    assert ocr_again.calls == 0 and CountingDescriber.calls == 0 and CountingReasoner.calls == 0
    assert second_stats.total_calls() == 0
    assert second_stats.usage("llm:numeric-reasoner").cache_hits == 2 * n
    assert second_stats.usage("ocr:counting-metadata").cache_hits == n
    assert annotations_again == annotations and llm_again == llm

    sample = samples[3]
    assert annotations[sample.id].ocr.as_flat()["count_r05"] == sample.metadata["count_r05"]
    assert annotations[sample.id].vlm_texts[0] != annotations[sample.id].vlm_texts[1]
    assert llm[sample.id][0].startswith("According to the description")


def test_class_statistics_use_only_what_they_are_given(
    samples: list[Sample], annotated: dict[str, ImageAnnotation]
) -> None:
    annotations = annotated
    train, test = split(samples)
    stats = fit(train, annotations)
    type1 = [annotations[s.id].ocr.as_flat()["count_r10"] for s in train if s.label == "type1"]
    assert stats.ocr_means["type1"]["count_r10"] == pytest.approx(np.mean(type1))
    assert stats.support == {"normal": 2, "type1": 2, "type2": 2, "type3": 0, "type4": 2}
    assert all(v is None for v in stats.ocr_means["type3"].values())

    tampered = dict(annotations)
    for s in test:  # test images change completely: the training statistics must not move
        tampered[s.id] = ImageAnnotation(s.id, "x", OcrReading.from_flat({"count_r10": 10**6}, "t", "1"), {}, ("x",))
    assert fit(train, tampered).to_json() == stats.to_json()
    assert fit(train + test, annotations).fingerprint() != stats.fingerprint()
    with pytest.raises(ValueError, match="label 7 is outside"):
        ClassStatistics.fit([annotations[samples[0].id].ocr], [7], clouds.CLASS_NAMES)
    assert ClassStatistics.from_json(stats.to_json()) == stats


def test_other_class_statistics_give_other_llm_texts_and_keep_the_vlm_texts(
    tmp_path: Path, samples: list[Sample]
) -> None:
    cache = AnnotationCache(tmp_path / "annotations")
    subset = samples[:4]
    annotations = annotate_images(subset, CountingOcr(), CountingDescriber(), cache)
    train, _ = split(subset)
    CountingReasoner.calls = 0
    reason(subset, annotations, fit(train, annotations), CountingReasoner(), cache)
    assert CountingReasoner.calls == len(subset)
    other_fold = fit(subset[1:], annotations)
    CountingReasoner.calls = 0
    stats = AnnotationStats()
    texts = reason(subset, annotations, other_fold, CountingReasoner(), cache, stats=stats)
    assert CountingReasoner.calls == len(subset) and stats.usage("llm:numeric-reasoner").cache_hits == 0
    CountingDescriber.calls = 0
    annotate_images(subset, CountingOcr(), CountingDescriber(), cache)
    assert CountingDescriber.calls == 0
    assert all(len(t) == 1 for t in texts.values())


def test_llm_requests_carry_the_seed_matched_description_and_the_training_averages(
    tmp_path: Path, samples: list[Sample], annotated: dict[str, ImageAnnotation]
) -> None:
    class Recorder(NumericReasoner):
        def generate(self, request: TextRequest) -> str:
            seen.append(request)
            return super().generate(request)

    seen: list[TextRequest] = []
    subset = samples[:4]
    annotations = annotated
    stats = fit(subset[:3], annotations)
    reason(subset[3:], annotations, stats, Recorder(), AnnotationCache(tmp_path / "c"), pool_size=3)
    assert [r.seed for r in seen] == [0, 1, 2]
    target = annotations[subset[3].id]
    assert seen[1].text.startswith(target.vlm_texts[1] + "\n\n")
    assert seen[2].text.startswith(target.vlm_texts[0] + "\n\n")  # the VLM pool cycles
    assert ocr_sentences(target.ocr, stats) in seen[0].text
    assert seen[0].facts["class_statistics"] == stats.to_json() and seen[0].image_png is None
    mean = stats.ocr_means["normal"]["count_r05"]
    assert f"The average of the accumulated point number between 0~5 for the normal is {mean:.1f}." in seen[0].text


def test_progress_reaches_the_total_for_every_phase(tmp_path: Path, samples: list[Sample]) -> None:
    events: list[tuple[str, int, int]] = []
    subset = samples[:3]
    cache = AnnotationCache(tmp_path / "c")
    annotations = annotate_images(subset, CountingOcr(), CountingDescriber(), cache, 2, lambda *e: events.append(e))
    reason(subset, annotations, None, CountingReasoner(), cache, 1, lambda *e: events.append(e))
    finals = {d: (done, total) for d, done, total in events}
    assert finals["annotations: OCR and measurements"] == (3, 3)
    assert finals["annotations: vlm texts (dot-cloud-describer)"] == (6, 6)
    assert finals["annotations: llm texts (numeric-reasoner)"] == (3, 3)


def test_an_unavailable_backend_fails_only_when_something_is_missing(
    tmp_path: Path, samples: list[Sample], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASEBENCH_OPENAI_BASE_URL", raising=False)
    with pytest.raises(
        BackendError, match=r"vlm backend 'openai' is needed for 2 uncached text.*ASEBENCH_OPENAI_BASE_URL"
    ):
        annotate_images(samples[:2], CountingOcr(), make_backend("openai"), AnnotationCache(tmp_path / "c"))


def test_published_texts_reproduce_a_run_through_the_cache_backend(
    tmp_path: Path, samples: list[Sample], annotated: dict[str, ImageAnnotation]
) -> None:
    subset = samples[:4]
    annotations = {s.id: annotated[s.id] for s in subset}
    llm = reason(
        subset, annotations, fit(subset, annotations), CountingReasoner(), AnnotationCache(tmp_path / "a"), pool_size=2
    )
    published = tmp_path / "published.jsonl"
    write_text_records(published, text_records(annotations, llm))
    replay = make_backend("cache", {"path": str(published)})
    fresh = AnnotationCache(tmp_path / "b")
    again = annotate_images(subset, CountingOcr(), replay, fresh, pool_size=2)
    assert {k: v.vlm_texts for k, v in again.items()} == {k: v.vlm_texts for k, v in annotations.items()}
    assert reason(subset, again, fit(subset, again), replay, fresh, pool_size=2) == llm


def test_a_steel_texture_goes_through_both_phases(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    texture = (
        (120 + 35 * np.sin(np.arange(96) / 2.0)[None, :] + rng.normal(0, 6, (96, 96))).clip(0, 255).astype(np.uint8)
    )
    steel = Sample(id="crazing_1", label="crazing", image=texture)
    cache = AnnotationCache(tmp_path / "c")
    annotations = annotate_images([steel], make_ocr_engine("metadata"), CountingDescriber(), cache)
    annotation = annotations["crazing_1"]
    assert annotation.ocr.is_empty() and annotation.features["has_dot_cloud"] == 0.0
    without_ocr = annotate_images([steel], None, CountingDescriber(), cache)["crazing_1"]
    assert without_ocr.ocr.is_empty() and without_ocr.ocr.engine == "none"
    assert without_ocr.vlm_texts == annotation.vlm_texts
    assert "vertically" in annotation.vlm_texts[0]
    stats = ClassStatistics.fit([annotation.ocr], ["crazing"], ["crazing", "scratches"], features=[annotation.features])
    text = reason([steel], annotations, stats, CountingReasoner(), cache)["crazing_1"][0]
    assert "not enough to decide" in text


def _write_many(root: str, worker: int) -> int:
    cache = AnnotationCache(Path(root))
    for i in range(40):
        key = TextKey("a" * 64, "vlm", "b", "m", "1", "p", "h", i % 5)
        cache.put_text(key, f"text {i % 5}")
        assert cache.get_text(key) in (None, f"text {i % 5}")
    return worker


def test_several_processes_can_fill_one_cache(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    with context.Pool(3) as pool:
        assert sorted(pool.starmap(_write_many, [(str(tmp_path), w) for w in range(3)])) == [0, 1, 2]
    cache = AnnotationCache(tmp_path)
    assert [cache.get_text(TextKey("a" * 64, "vlm", "b", "m", "1", "p", "h", s)) for s in range(5)] == [
        f"text {s}" for s in range(5)
    ]
    assert not list(tmp_path.rglob("*.tmp"))
    other_prompt = TextKey("a" * 64, "vlm", "b", "m", "1", "another prompt", "h", 0)
    assert cache.get_text(other_prompt) is None


# --------------------------------------------------------------------------- any domain


@dataclass(frozen=True)
class Words:
    """A toy domain's reading: the words OCR saw."""

    words: tuple[str, ...]
    engine: str
    engine_version: str

    def as_flat(self) -> dict[str, float | int | None]:
        return {"n_words": len(self.words)}

    def to_json(self) -> dict[str, Any]:
        return {"words": list(self.words), "engine": self.engine, "engine_version": self.engine_version}


TOY = AnnotationDomain(
    reading=ReadingFormat(
        version="7",
        from_boxes=lambda boxes, engine, version, width: Words(tuple(b.text for b in boxes), engine, version),
        from_values=lambda values, engine, version: Words(tuple(map(str, values.values())), engine, version),
        from_json=lambda payload: Words(tuple(payload["words"]), payload["engine"], payload["engine_version"]),
        empty=lambda engine, version: Words((), engine, version),
    ),
    measure=lambda image: {"brightness": float(np.asarray(to_pil(image)).mean())},
    measure_version="toy-1",
    sentences=lambda reading, statistics: f"I read {len(reading.words)} words.",
    vlm_prompt="Describe it.",
    llm_prompt="Which class?",
)


class BoxOcr:
    """Sees two words on every image and lets the toy domain read them."""

    name = "toy-ocr"
    version = "1"
    calls = 0

    def availability(self) -> str | None:
        return None

    def read(self, image: Sample) -> Words:
        type(self).calls += 1
        boxes = [TextBox.from_rect("hello", 0, 0, 5, 2), TextBox.from_rect("world", 6, 0, 5, 2)]
        return TOY.reading.from_boxes(boxes, self.name, self.version, None)


class Echo(TextBackend):
    name = "toy-echo"
    kind = "echo for tests, not a language model"
    calls = 0

    def generate(self, request: TextRequest) -> str:
        type(self).calls += 1
        return f"{request.prompt} | {request.text or 'an image'} | {dict(request.facts).get('ocr')}"


def test_the_stage_runs_any_domain_it_is_given(tmp_path: Path) -> None:
    image = np.full((6, 6, 3), 200, np.uint8)
    samples = [Sample(id="a", label="x", image=image), Sample(id="b", label="y", image=image + 1)]
    cache = AnnotationCache(tmp_path)
    BoxOcr.calls = Echo.calls = 0
    for run in range(2):
        stats = AnnotationStats()
        annotations = pipeline.annotate_images(samples, BoxOcr(), Echo(), cache, 1, domain=TOY, stats=stats)
        texts = pipeline.reason(samples, annotations, None, Echo(), cache, domain=TOY, stats=stats)
        assert annotations["a"].ocr == Words(("hello", "world"), "toy-ocr", "1")
        assert annotations["b"].features == {"brightness": 201.0}
        assert annotations["a"].vlm_texts == ("Describe it. | an image | None",)
        assert texts["a"] == ["Which class? | Describe it. | an image | None\n\nI read 2 words. | {'n_words': 2}"]
        assert (BoxOcr.calls, Echo.calls, stats.total_calls()) == (2, 4, 0 if run else 8)
    metadata = Sample(id="m", label="x", image=image, metadata={"k": 3})
    assert pipeline.read_numbers(
        [metadata], make_generic_ocr_engine("metadata", reading=TOY.reading), cache, domain=TOY
    ) == [Words(("3",), "metadata", "1")]
