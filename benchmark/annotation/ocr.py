"""OCR engines: they detect text in an image and hand the boxes to a domain's :class:`ReadingFormat`.

The ASE paper used CnOCR, which downloads its models at first use and so
cannot run offline; the default here is RapidOCR, whose PP-OCRv4 models ship
inside its wheel. Every engine only
*detects text*; turning boxes into numbers is the domain's pure parser
(``reading.from_boxes``, for ASE plots :mod:`asebench.domains.ase.ocr_parser`),
so engines differ only in what they see.

Engines: ``rapidocr`` (default), ``tesseract`` (the ``tesseract`` CLI, when
installed), ``metadata`` (numbers a dataset ships in ``Sample.metadata``; no
pixels read, for datasets that carry them or to isolate OCR errors).
An engine's ``version`` includes the parser's version, so the OCR cache
never mixes readings of two parsers. Each engine is built for one
``ReadingFormat``: :func:`make_ocr_engine` takes it from the caller (a domain).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from asebench.annotation.domain import Reading, ReadingFormat
from asebench.annotation.errors import OcrError
from asebench.annotation.image_input import ImageLike, png_bytes, to_pil
from asebench.annotation.text_box import TextBox
from asebench.api.data import Sample
from asebench.api.errors import ConfigError

DEFAULT_OCR_ENGINE = "rapidocr"


@runtime_checkable
class OcrEngine(Protocol):
    """Reads one image (or Sample) into a domain's reading; an image without a table reads as empty."""

    name: str

    @property
    def version(self) -> str: ...

    def availability(self) -> str | None: ...

    def read(self, image: ImageLike) -> Reading: ...


def engine_provenance(engine: OcrEngine) -> dict[str, str]:
    """What a result record needs to name the OCR that produced its numbers."""
    return {"engine": engine.name, "version": engine.version}


# --------------------------------------------------------------------------- RapidOCR


@functools.lru_cache(maxsize=1)
def _rapidocr_instance() -> Any:
    """One RapidOCR per process: loading its three ONNX models takes about a second.

    ONNX Runtime ignores ``OMP_NUM_THREADS`` and uses every core, so the limit
    is passed on: a worker given one thread (the process executor) then uses
    one, instead of competing with the other workers. The readings do not
    depend on the thread count.
    """
    from rapidocr_onnxruntime import RapidOCR

    threads = _thread_limit()
    instance = RapidOCR() if threads is None else RapidOCR(intra_op_num_threads=threads)
    instance.text_rec = OneCropRecognizer(instance.text_rec)
    return instance


class OneCropRecognizer:
    """RapidOCR's text recogniser run on one crop at a time, remembering the crops it has read.

    RapidOCR pads each batch of crops to the widest one in it, so a crop's text
    and score depend on which crops share its batch, that is on the rest of the
    image. Alone, a crop is padded to the model's own minimum width only and
    its result is a function of its pixels. That makes it safe to reuse: ASE
    plots print the same labels at the same places on every image (the radius
    column, the headers, the statistic names, about half of the crops), and
    each is recognised once per process instead of once per image. With the
    reuse an ase-synth image takes 0.46-0.51 s on one CPU thread, against about
    1.1 s in RapidOCR's batches.
    """

    def __init__(self, recognizer: Any, capacity: int = 65536) -> None:
        self._recognizer = recognizer
        self._capacity = capacity
        self._seen: dict[tuple[Any, ...], tuple[str, float]] = {}

    def __call__(self, crops: Any, return_word_box: bool = False) -> tuple[list[Any], float]:
        if isinstance(crops, np.ndarray):
            crops = [crops]
        results, seconds = [], 0.0
        for crop in crops:
            key = (
                crop.shape,
                str(crop.dtype),
                return_word_box,
                hashlib.blake2b(crop.tobytes(), digest_size=16).digest(),
            )
            if key not in self._seen:
                (result,), elapsed = self._recognizer([crop], return_word_box)
                seconds += elapsed
                if len(self._seen) >= self._capacity:
                    self._seen.pop(next(iter(self._seen)))  # oldest first
                self._seen[key] = result
            results.append(self._seen[key])
        return results, seconds


def _thread_limit() -> int | None:
    """``OMP_NUM_THREADS`` as a positive int, or None when unset or not a count."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


class RapidOcrEngine:
    """RapidOCR (PP-OCRv4 ONNX models from the wheel, offline). ``min_score`` drops unsure boxes.

    ``region="right-half"`` (default) reads only the right half, where the
    ASE paper's AOI layout prints the radius table and the statistics (the
    paper's example images); it halves the OCR time. Use ``"full"`` for layouts that differ.
    """

    name = "rapidocr"

    def __init__(self, reading: ReadingFormat, min_score: float = 0.5, region: str = "right-half") -> None:
        if region not in ("right-half", "full"):
            raise ValueError(f"region must be 'right-half' or 'full', got {region!r}")
        self.reading = reading
        self.min_score = min_score
        self.region = region
        self._lock = threading.Lock()  # onnxruntime sessions are shared; one image at a time is enough

    @functools.cached_property
    def version(self) -> str:
        try:
            package = importlib.metadata.version("rapidocr-onnxruntime")
        except importlib.metadata.PackageNotFoundError:
            package = "missing"
        return f"{package}+layout{self.reading.version}+min{self.min_score:g}+{self.region}+single-crops"

    def availability(self) -> str | None:
        if importlib.util.find_spec("rapidocr_onnxruntime") is None:
            return "RapidOCR is not installed: pip install 'rapidocr-onnxruntime==1.4.4' (or asebench[multimodal])"
        return None

    def read(self, image: ImageLike) -> Reading:
        pil = to_pil(image)
        left = pil.width // 2 if self.region == "right-half" else 0
        with self._lock:
            try:
                result, _ = _rapidocr_instance()(np.asarray(pil.crop((left, 0, pil.width, pil.height))))
            except Exception as exc:  # onnxruntime raises many types; name the image
                raise OcrError(f"RapidOCR failed on {_describe(image)}: {exc}") from exc
        boxes = [
            TextBox(str(text), tuple((float(x) + left, float(y)) for x, y in corners), float(score))
            for corners, text, score in (result or [])
            if float(score) >= self.min_score
        ]
        return self.reading.from_boxes(boxes, self.name, self.version, pil.width)


# --------------------------------------------------------------------------- Tesseract


class TesseractEngine:
    """The ``tesseract`` command line (TSV output), run as a subprocess; the image is upscaled first.

    Tesseract reads small print poorly, so the image is enlarged by ``scale``
    (boxes are mapped back); ``psm 11`` (sparse text) suits a table beside a plot.
    """

    name = "tesseract"

    def __init__(
        self,
        reading: ReadingFormat,
        binary: str = "tesseract",
        scale: float = 2.0,
        psm: int = 11,
        timeout: float = 60.0,
    ) -> None:
        self.reading = reading
        self.binary = binary
        self.scale = scale
        self.psm = psm
        self.timeout = timeout

    def availability(self) -> str | None:
        if shutil.which(self.binary) is None:
            return (
                f"the {self.binary!r} binary is not on PATH: install Tesseract (Debian/Ubuntu: "
                "`apt-get install tesseract-ocr`, macOS: `brew install tesseract`) or use ocr: rapidocr"
            )
        return None

    @functools.cached_property
    def version(self) -> str:
        reason = self.availability()
        if reason is not None:
            raise OcrError(reason)
        completed = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
        first = (completed.stdout or completed.stderr).strip().splitlines()
        return f"{first[0].strip() if first else 'unknown'}+layout{self.reading.version}+psm{self.psm}+x{self.scale:g}"

    def read(self, image: ImageLike) -> Reading:
        pil = to_pil(image)
        if self.scale != 1.0:
            pil = pil.resize((round(pil.width * self.scale), round(pil.height * self.scale)))
        command = [self.binary, "stdin", "stdout", "--psm", str(self.psm), "tsv"]
        try:
            completed = subprocess.run(
                command, input=png_bytes(pil), capture_output=True, timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OcrError(f"tesseract failed on {_describe(image)}: {exc}") from exc
        if completed.returncode != 0:
            message = completed.stderr.decode("utf-8", "replace").strip()[-500:]
            raise OcrError(f"tesseract exited with {completed.returncode} on {_describe(image)}: {message}")
        boxes = boxes_from_tsv(completed.stdout.decode("utf-8", "replace"), scale=self.scale)
        return self.reading.from_boxes(boxes, self.name, self.version, pil.width / self.scale)


def boxes_from_tsv(tsv: str, scale: float = 1.0, min_confidence: float = 0.0) -> list[TextBox]:
    """Word boxes (level 5) of Tesseract's TSV output, in the original image's pixels."""
    lines = tsv.splitlines()
    if not lines:
        return []
    columns = {name: i for i, name in enumerate(lines[0].split("\t"))}
    required = ("level", "left", "top", "width", "height", "conf", "text")
    if any(name not in columns for name in required):
        raise OcrError(f"unexpected tesseract TSV header: {lines[0]!r}")
    boxes = []
    for line in lines[1:]:
        cells = line.split("\t")
        if len(cells) < len(columns) or cells[columns["level"]] != "5" or not cells[columns["text"]].strip():
            continue
        confidence = float(cells[columns["conf"]])
        if confidence < min_confidence:
            continue
        left, top, width, height = (float(cells[columns[k]]) / scale for k in ("left", "top", "width", "height"))
        boxes.append(TextBox.from_rect(cells[columns["text"]], left, top, width, height, max(0.0, confidence) / 100.0))
    return boxes


# --------------------------------------------------------------------------- metadata


class MetadataEngine:
    """Reads the numbers a dataset ships in ``Sample.metadata`` (ase-synth does): exact, no pixels involved."""

    name = "metadata"
    version = "1"

    def __init__(self, reading: ReadingFormat) -> None:
        self.reading = reading

    def availability(self) -> str | None:
        return None

    def read(self, image: ImageLike) -> Reading:
        if not isinstance(image, Sample):
            raise OcrError("ocr: metadata reads Sample.metadata, so it needs the Sample, not a bare image")
        return self.reading.from_values(image.metadata, self.name, self.version)


def _describe(image: ImageLike) -> str:
    if isinstance(image, Sample):
        return f"sample {image.id!r}"
    if isinstance(image, str | Path):
        return str(image)
    return "an in-memory image"


OCR_ENGINES: Mapping[str, type[RapidOcrEngine] | type[TesseractEngine] | type[MetadataEngine]] = MappingProxyType(
    {"rapidocr": RapidOcrEngine, "tesseract": TesseractEngine, "metadata": MetadataEngine}
)


def make_ocr_engine(name: str, options: Mapping[str, Any] | None = None, *, reading: ReadingFormat) -> OcrEngine:
    """The engine registered as ``name`` reading into ``reading``, built with ``options`` (its keyword arguments)."""
    try:
        engine_class = OCR_ENGINES[name]
    except KeyError:
        raise ConfigError(f"unknown OCR engine {name!r}; choose one of {', '.join(OCR_ENGINES)}") from None
    try:
        return engine_class(reading, **dict(options or {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad options for OCR engine {name!r}: {exc}") from exc
