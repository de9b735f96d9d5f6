"""OCR engines of the annotation stage: the factory, metadata, Tesseract's TSV, and RapidOCR on ase-synth.

Engines read into a domain's reading format; these tests use the ASE one
(``asebench.domains.ase.annotation``), which is what every method uses.
"""

from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from asebench.annotation import ocr
from asebench.annotation.errors import OcrError
from asebench.annotation.ocr import (
    OCR_ENGINES,
    MetadataEngine,
    OcrEngine,
    RapidOcrEngine,
    TesseractEngine,
    boxes_from_tsv,
)
from asebench.api.data import Sample
from asebench.api.errors import ConfigError
from asebench.datasets.ase_synth import generator as gen
from asebench.datasets.ase_synth import rendering
from asebench.domains.ase.annotation import ASE_READING, make_ocr_engine
from asebench.domains.ase.ocr_parser import reading_from_boxes
from asebench.domains.ase.ocr_reading import FLAT_KEYS, OcrReading


def test_the_metadata_engine_reads_sample_metadata_and_needs_the_sample() -> None:
    engine = make_ocr_engine("metadata")
    assert isinstance(engine, OcrEngine) and isinstance(engine, MetadataEngine)
    sample = Sample(id="a", label="normal", image=np.zeros((8, 8), np.uint8), metadata={"count_r05": 7, "x_avg": -1.5})
    reading = engine.read(sample)
    assert reading.counts[5] == 7 and reading.stats["x_avg"] == -1.5 and reading.counts[10] is None
    assert engine.read(Sample(id="b", label="x", image=np.zeros((8, 8), np.uint8))).is_empty()
    with pytest.raises(OcrError, match="needs the Sample"):
        engine.read(np.zeros((8, 8), np.uint8))


def test_the_factory_knows_every_engine_and_rejects_unknown_names_and_options() -> None:
    assert set(OCR_ENGINES) == {"rapidocr", "tesseract", "metadata"}
    assert isinstance(make_ocr_engine("tesseract", {"scale": 3.0}), TesseractEngine)
    with pytest.raises(ConfigError, match="unknown OCR engine 'cnocr'"):
        make_ocr_engine("cnocr")
    with pytest.raises(ConfigError, match="bad options"):
        make_ocr_engine("rapidocr", {"no_such_option": 1})


TSV = "\n".join(
    [
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext",
        "1\t1\t0\t0\t0\t0\t0\t0\t1600\t900\t-1\t",
        "5\t1\t1\t1\t1\t1\t934\t94\t96\t34\t96.5\tRadius",
        "5\t1\t1\t1\t1\t2\t1186\t96\t160\t32\t95.1\tAccumulated",
        "5\t1\t1\t1\t1\t3\t1352\t96\t100\t32\t95.0\tpoints",
        "5\t1\t2\t1\t1\t1\t970\t140\t26\t32\t91.0\t5",
        "5\t1\t2\t1\t1\t2\t1448\t140\t78\t32\t93.0\t4884",
        "5\t1\t3\t1\t1\t1\t862\t620\t140\t34\t90.0\tX-axis-avg",
        "5\t1\t3\t1\t1\t2\t1442\t624\t84\t32\t92.0\t13.236",
        "5\t1\t4\t1\t1\t1\t290\t620\t120\t34\t88.0\t-25.000",
    ]
)


def test_tesseract_tsv_words_become_boxes_in_original_pixels() -> None:
    boxes = boxes_from_tsv(TSV, scale=2.0)
    assert [b.text for b in boxes][:3] == ["Radius", "Accumulated", "points"]
    assert boxes[0].left == 467 and boxes[0].top == 47 and boxes[0].score == pytest.approx(0.965)
    reading = reading_from_boxes(boxes, "tesseract", "t", image_width=800)
    assert reading.counts[5] == 4884 and reading.stats["x_avg"] == 13.236 and reading.counts[10] is None


def test_tesseract_says_how_to_install_it_when_missing() -> None:
    engine = TesseractEngine(ASE_READING, binary="asebench-no-such-tesseract")
    reason = engine.availability()
    assert reason is not None and "apt-get install tesseract-ocr" in reason
    with pytest.raises(OcrError, match="not on PATH"):
        _ = engine.version


# --------------------------------------------------------------------------- RapidOCR on ase-synth

needs_rapidocr = pytest.mark.skipif(
    importlib.util.find_spec("rapidocr_onnxruntime") is None,
    reason="rapidocr-onnxruntime is not installed (pip install 'asebench[multimodal]')",
)


def test_engines_read_into_the_format_they_are_given_and_name_its_version() -> None:
    engine = ocr.make_ocr_engine("metadata", reading=ASE_READING)
    assert isinstance(engine, MetadataEngine) and engine.reading is ASE_READING
    assert isinstance(engine.read(Sample(id="a", label="x", image=np.zeros((8, 8), np.uint8))), OcrReading)
    assert isinstance(make_ocr_engine(), RapidOcrEngine)  # the ASE default
    assert "+layout2+min0.5+right-half" in RapidOcrEngine(ASE_READING).version  # part of every OCR cache key


@needs_rapidocr
def test_rapidocr_uses_the_thread_limit_a_worker_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """ONNX Runtime ignores OMP_NUM_THREADS: a one-thread worker's RapidOCR must be told, or it takes every core."""
    import rapidocr_onnxruntime

    made: list[dict[str, object]] = []
    monkeypatch.setattr(
        rapidocr_onnxruntime, "RapidOCR", lambda **options: made.append(options) or SimpleNamespace(text_rec=None)
    )
    try:
        for value in ("1", "3", "", "0", "many"):
            monkeypatch.setenv("OMP_NUM_THREADS", value)
            ocr._rapidocr_instance.cache_clear()
            ocr._rapidocr_instance()
    finally:
        ocr._rapidocr_instance.cache_clear()
    assert made == [{"intra_op_num_threads": 1}, {"intra_op_num_threads": 3}, {}, {}, {}]


def test_the_recogniser_reads_each_crop_alone_and_a_repeated_crop_once() -> None:
    """Alone, a crop's text is a function of its pixels (no batch padding), so a label printed on every image is read once."""
    batches: list[int] = []

    def recognise(crops: list[np.ndarray], return_word_box: bool = False) -> tuple[list[tuple[str, float]], float]:
        batches.append(len(crops))
        return [(f"sum{int(crops[0].sum())}", 0.9)], 0.5

    recogniser = ocr.OneCropRecognizer(recognise, capacity=2)
    label, count, other = (np.full((4, 8, 3), value, np.uint8) for value in (0, 1, 2))
    results, seconds = recogniser([label, count, label])
    assert results == [("sum0", 0.9), ("sum96", 0.9), ("sum0", 0.9)]
    assert batches == [1, 1] and seconds == 1.0  # the repeated crop was not recognised again
    recogniser([other])  # the oldest entry (label) leaves at capacity 2
    recogniser(label)  # a single array is a list of one
    assert batches == [1, 1, 1, 1]


@needs_rapidocr
def test_rapidocr_reads_synthetic_ase_images(tmp_path: Path) -> None:
    """Share of the 14 printed numbers read exactly, and their mean absolute error, on three images."""
    engine = RapidOcrEngine(ASE_READING)
    assert engine.availability() is None and engine.version.startswith("1.4")
    assets = rendering.build_assets()
    exact, errors, seconds = 0, [], []
    for label, number in (("normal", 1), ("type1", 2), ("type4", 3)):
        rendered = gen.generate_sample(label, number, points_scale=0.5, assets=assets)
        path = tmp_path / f"{label}.png"
        path.write_bytes(gen.encode_png(rendered.image))
        truth = rendered.stats.as_metadata()
        start = time.perf_counter()
        reading = engine.read(Sample(id=label, label=label, image=path))
        seconds.append(time.perf_counter() - start)
        for key, value in reading.as_flat().items():
            exact += value is not None and value == truth[key]
            errors.append(abs(value - truth[key]) if value is not None else math.inf)
    share = exact / (3 * len(FLAT_KEYS))
    finite = [e for e in errors if math.isfinite(e)]
    print(f"rapidocr on ase-synth: exact {share:.3f}, MAE {np.mean(finite):.4f}, {np.mean(seconds):.2f} s/image")
    assert share >= 0.9
    assert len(finite) >= 0.9 * len(errors)


@needs_rapidocr
def test_rapidocr_on_a_steel_texture_gives_an_empty_reading() -> None:
    rng = np.random.default_rng(0)
    texture = (rng.normal(120, 25, size=(200, 200)) + 30 * np.sin(np.arange(200) / 3.0)[:, None]).clip(0, 255)
    reading = RapidOcrEngine(ASE_READING).read(texture.astype(np.uint8))
    assert reading.is_empty()
