"""The annotation stage a method runs once before training, in two phases, for one domain.

1. :func:`annotate_images` is **label-free**: per image, the OCR reading,
   the domain's pixel measurements and ``pool_size`` VLM texts (seeds
   ``0..pool_size-1``). It may run on every split at once.
2. :func:`reason` needs class statistics fitted on the **training split
   only** (the leakage rule, ``docs/paper-model-defaults.md``, "Training and protocol"): per image and
   seed, the LLM text for the prompt + the seed-matched VLM description + the
   domain's sentences for the reading with those class averages. The class
   statistics are part of every LLM cache key, so another fold's statistics
   never reuse these texts.

What is domain-specific (the reading, the measurements, the sentences, the
default prompts) comes in as an :class:`~asebench.annotation.domain.AnnotationDomain`;
``asebench.domains.ase.annotation`` binds these functions to the ASE plot.
Everything goes through :class:`AnnotationCache`: a cached item never calls
its engine or backend, so a second run over the same data makes no calls.
Backends are only checked for availability when something is missing.
Processes that annotate the same images at once share the work: each item is
claimed before it is computed (:mod:`.sharing`), so it is computed once.
Progress goes to ``progress(description, completed, total)``; counts and
timings go to the caller's :class:`AnnotationStats`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from asebench.annotation.backends.base import ProgressCallback, TextBackend, TextRequest, input_hash
from asebench.annotation.backends.jsonl_cache import TextRecord
from asebench.annotation.cache import AnnotationCache, TextKey
from asebench.annotation.domain import AnnotationDomain, ClassSummary, Reading
from asebench.annotation.errors import AnnotationError, BackendError, OcrError
from asebench.annotation.image_input import image_sha256, png_bytes
from asebench.annotation.ocr import OcrEngine
from asebench.annotation.sharing import fill_claimed
from asebench.annotation.stats import AnnotationStats
from asebench.api.data import Sample
from asebench.api.errors import AsebenchError
from asebench.components.rng import rng_preserved

GENERATION_CHUNK = 32
"""Texts generated per backend call batch: results are cached after each batch, so a failure keeps the rest."""
NO_OCR = "none"
"""Engine name of the empty readings produced when OCR is switched off."""
_UNCACHED_ENGINES = frozenset({"metadata"})
"""Engines that copy numbers shipped with the sample: nothing to save, and the metadata may change under one image."""


@dataclass(frozen=True)
class ImageAnnotation:
    """Label-free annotations of one image."""

    sample_id: str
    image_sha256: str
    ocr: Reading
    features: Mapping[str, float]
    vlm_texts: tuple[str, ...]

    def vlm_text(self, seed: int) -> str:
        """The VLM text of pool member ``seed`` (cycling when the LLM pool is larger than the VLM pool)."""
        return self.vlm_texts[seed % len(self.vlm_texts)]


@dataclass(frozen=True)
class _Pending:
    sample: Sample
    request_seed: int
    key: TextKey


def _no_progress(description: str, completed: int, total: int) -> None:
    return None


# --------------------------------------------------------------------------- phase 1


def annotate_images(
    samples: Sequence[Sample],
    ocr_engine: OcrEngine | None,
    vlm_backend: TextBackend,
    cache: AnnotationCache,
    pool_size: int = 1,
    progress: ProgressCallback | None = None,
    *,
    domain: AnnotationDomain,
    prompt: str | None = None,
    stats: AnnotationStats | None = None,
) -> dict[str, ImageAnnotation]:
    """OCR, measurements and ``pool_size`` VLM texts per sample (label-free; see the module docstring).

    ``ocr_engine=None`` switches OCR off (an ablation): every reading is empty.
    ``prompt=None`` asks the domain's VLM prompt.
    """
    _check_pool(pool_size)
    report = progress or _no_progress
    stats = stats if stats is not None else AnnotationStats()
    prompt = domain.vlm_prompt if prompt is None else prompt
    measured = domain.measure_version
    hashes = {sample.id: image_sha256(sample) for sample in samples}
    readings: dict[str, Reading] = {}
    features: dict[str, dict[str, float]] = {}
    left = [2] * len(samples)  # parts (reading, measurements) still to do per sample, for the progress
    done = 0

    def claim(part: tuple[int, str]) -> Path | None:
        sha = hashes[samples[part[0]].id]
        return _ocr_claim(sha, ocr_engine, cache) if part[1] == "ocr" else cache.features_claim(sha, measured)

    def fill(batch: Sequence[tuple[int, str]]) -> list[None]:
        nonlocal done
        for position, what in batch:
            sample = samples[position]
            if what == "ocr":
                readings[sample.id] = _ocr(sample, hashes[sample.id], ocr_engine, cache, stats, domain)
            else:
                features[sample.id] = _features(sample, hashes[sample.id], cache, stats, domain)
            left[position] -= 1
            if not left[position]:
                done += 1
                report("annotations: OCR and measurements", done, len(samples))
        return [None] * len(batch)

    fill_claimed([(i, what) for i in range(len(samples)) for what in ("ocr", "measure")], claim, fill)
    texts: dict[tuple[str, int], str] = {}
    pending: list[_Pending] = []
    for sample in samples:
        for seed in range(pool_size):
            key = _text_key(hashes[sample.id], vlm_backend, "vlm", prompt, input_hash("", {}), seed)
            cached = cache.get_text(key)
            if cached is None:
                pending.append(_Pending(sample, seed, key))
            else:
                texts[(sample.id, seed)] = cached
    stats.record(f"vlm:{vlm_backend.name}", hits=len(texts))

    def build(item: _Pending) -> TextRequest:
        return _vlm_request(item.sample, item.key.image_sha256, prompt, item.request_seed, png_bytes(item.sample))

    texts.update(_generate(pending, build, vlm_backend, cache, stats, report, "vlm"))
    return {
        s.id: ImageAnnotation(
            sample_id=s.id,
            image_sha256=hashes[s.id],
            ocr=readings[s.id],
            features=features[s.id],
            vlm_texts=tuple(texts[(s.id, seed)] for seed in range(pool_size)),
        )
        for s in samples
    }


def read_numbers(
    samples: Sequence[Sample],
    ocr_engine: OcrEngine,
    cache: AnnotationCache,
    progress: ProgressCallback | None = None,
    *,
    domain: AnnotationDomain,
    stats: AnnotationStats | None = None,
) -> list[Reading]:
    """OCR readings only (cached), for methods that use the printed numbers without any text."""
    report = progress or _no_progress
    stats = stats if stats is not None else AnnotationStats()
    hashes = [image_sha256(sample) for sample in samples]
    done = 0

    def fill(batch: Sequence[int]) -> list[Reading]:
        nonlocal done
        readings = [_ocr(samples[i], hashes[i], ocr_engine, cache, stats, domain) for i in batch]
        done += len(batch)
        report("OCR", done, len(samples))
        return readings

    return fill_claimed(range(len(samples)), lambda i: _ocr_claim(hashes[i], ocr_engine, cache), fill)


def _vlm_request(sample: Sample, sha: str, prompt: str, seed: int, image: bytes) -> TextRequest:
    """A VLM request: no input text and no facts, so its key depends on the image, prompt, backend and seed only."""
    return TextRequest(role="vlm", prompt=prompt, image_png=image, seed=seed, sample_id=sample.id, image_sha256=sha)


def _ocr_claim(sha: str, engine: OcrEngine | None, cache: AnnotationCache) -> Path | None:
    """The claim file of a reading; None where nothing is cached (OCR off, or numbers copied from metadata)."""
    if engine is None or engine.name in _UNCACHED_ENGINES:
        return None
    return cache.ocr_claim(sha, engine.name, engine.version)


def _ocr(
    sample: Sample,
    sha: str,
    engine: OcrEngine | None,
    cache: AnnotationCache,
    stats: AnnotationStats,
    domain: AnnotationDomain,
) -> Reading:
    if engine is None:
        return domain.reading.empty(NO_OCR, "0")
    component = f"ocr:{engine.name}"
    cacheable = engine.name not in _UNCACHED_ENGINES
    if cacheable:
        cached = cache.get_ocr(sha, engine.name, engine.version, domain.reading.from_json)
        if cached is not None:
            stats.record(component, hits=1)
            return cached
    reason = engine.availability()
    if reason is not None:
        raise OcrError(f"OCR engine {engine.name!r} unavailable: {reason}")
    start = time.perf_counter()
    with rng_preserved():  # work a cache removes must not change the cell's random draws
        reading = engine.read(sample)
    stats.record(component, calls=1, seconds=time.perf_counter() - start, images=1)
    if cacheable:
        cache.put_ocr(sha, reading)
    return reading


def _features(
    sample: Sample, sha: str, cache: AnnotationCache, stats: AnnotationStats, domain: AnnotationDomain
) -> dict[str, float]:
    cached = cache.get_features(sha, domain.measure_version)
    if cached is not None:
        stats.record("measure", hits=1)
        return cached
    start = time.perf_counter()
    try:
        with rng_preserved():
            measured = domain.measure(sample)
    except AsebenchError:  # an unreadable image file already names itself
        raise
    except Exception as exc:  # numpy/scipy errors: name the image
        raise AnnotationError(f"measuring sample {sample.id!r} failed: {exc}") from exc
    stats.record("measure", calls=1, seconds=time.perf_counter() - start, images=1)
    cache.put_features(sha, domain.measure_version, measured)
    return measured


# --------------------------------------------------------------------------- phase 2


def reason(
    samples: Sequence[Sample],
    image_annotations: Mapping[str, ImageAnnotation],
    class_stats: ClassSummary | None,
    llm_backend: TextBackend,
    cache: AnnotationCache,
    pool_size: int = 1,
    progress: ProgressCallback | None = None,
    *,
    domain: AnnotationDomain,
    prompt: str | None = None,
    stats: AnnotationStats | None = None,
) -> dict[str, list[str]]:
    """``pool_size`` LLM texts per sample; ``class_stats`` must come from the training split only.

    ``class_stats=None`` writes the reading's sentences without class averages;
    ``prompt=None`` asks the domain's LLM prompt.
    """
    _check_pool(pool_size)
    report = progress or _no_progress
    stats = stats if stats is not None else AnnotationStats()
    prompt = domain.llm_prompt if prompt is None else prompt
    missing = [s.id for s in samples if s.id not in image_annotations]
    if missing:
        raise AnnotationError(
            f"no image annotations for {len(missing)} sample(s), e.g. {missing[:3]}; run annotate_images first"
        )
    requests: dict[tuple[str, int], TextRequest] = {}
    texts: dict[tuple[str, int], str] = {}
    pending: list[_Pending] = []
    statistics_json = class_stats.to_json() if class_stats is not None else None
    for sample in samples:
        annotation = image_annotations[sample.id]
        sentences = domain.sentences(annotation.ocr, class_stats)
        for seed in range(pool_size):
            request = TextRequest(
                role="llm",
                prompt=prompt,
                text=f"{annotation.vlm_text(seed)}\n\n{sentences}",
                facts={
                    "ocr": annotation.ocr.as_flat(),
                    "features": dict(annotation.features),
                    "class_statistics": statistics_json,
                },
                seed=seed,
                sample_id=sample.id,
                image_sha256=annotation.image_sha256,
            )
            key = _text_key(annotation.image_sha256, llm_backend, "llm", prompt, request.input_hash(), seed)
            cached = cache.get_text(key)
            if cached is None:
                requests[(sample.id, seed)] = request
                pending.append(_Pending(sample, seed, key))
            else:
                texts[(sample.id, seed)] = cached
    stats.record(f"llm:{llm_backend.name}", hits=len(texts))

    def build(item: _Pending) -> TextRequest:
        return requests[(item.sample.id, item.request_seed)]

    texts.update(_generate(pending, build, llm_backend, cache, stats, report, "llm"))
    return {s.id: [texts[(s.id, seed)] for seed in range(pool_size)] for s in samples}


# --------------------------------------------------------------------------- shared


def _generate(
    pending: Sequence[_Pending],
    build: Callable[[_Pending], TextRequest],
    backend: TextBackend,
    cache: AnnotationCache,
    stats: AnnotationStats,
    report: ProgressCallback,
    role: str,
) -> dict[tuple[str, int], str]:
    """Generate the missing texts in chunks of claimed texts (:mod:`.sharing`), caching each chunk when done."""
    if not pending:
        return {}
    reason = backend.availability()
    if reason is not None:
        raise BackendError(
            f"{role} backend {backend.name!r} is needed for {len(pending)} uncached text(s) but unavailable: {reason}"
        )
    component = f"{role}:{backend.name}"
    description = f"annotations: {role} texts ({backend.name})"
    mine: set[TextKey] = set()  # generated here: a key repeated in ``pending`` is generated again, as without claims
    seen: set[str] = set()  # an image's seeds may straddle two chunks: count it once
    done = 0
    report(description, 0, len(pending))

    def fill(chunk: Sequence[_Pending]) -> list[str]:
        """Texts of a claimed chunk: cached ones (another process made them) are hits, the rest one backend call."""
        nonlocal done
        found = {i: None if item.key in mine else cache.get_text(item.key) for i, item in enumerate(chunk)}
        texts = {i: text for i, text in found.items() if text is not None}
        missing = [i for i in range(len(chunk)) if i not in texts]
        if texts:
            stats.record(component, hits=len(texts))
        if missing:
            begin = time.perf_counter()
            with rng_preserved():  # generation a cache removes must not change the cell's random draws
                generated = backend.generate_many([build(chunk[i]) for i in missing])
            elapsed = time.perf_counter() - begin
            if len(generated) != len(missing):
                raise BackendError(f"{backend.name} returned {len(generated)} texts for {len(missing)} requests")
            for i, text in zip(missing, generated, strict=True):
                cache.put_text(chunk[i].key, text)
                mine.add(chunk[i].key)
                texts[i] = text
            new_images = {chunk[i].sample.id for i in missing} - seen
            seen.update(new_images)
            stats.record(component, calls=len(missing), seconds=elapsed, images=len(new_images))
        done += len(chunk)
        report(description, done, len(pending))
        return [texts[i] for i in range(len(chunk))]

    texts = fill_claimed(pending, lambda item: cache.text_claim(item.key), fill, GENERATION_CHUNK)
    return {(item.sample.id, item.request_seed): text for item, text in zip(pending, texts, strict=True)}


def _text_key(sha: str, backend: TextBackend, role: str, prompt: str, input_hash: str, seed: int) -> TextKey:
    return TextKey(
        image_sha256=sha,
        role=role,
        backend=backend.name,
        model=backend.model,
        backend_version=backend.version,
        prompt=prompt,
        input_sha256=input_hash,
        seed=seed,
    )


def _check_pool(pool_size: int) -> None:
    if pool_size < 1:
        raise ValueError(f"pool_size must be >= 1, got {pool_size}")


def text_records(
    image_annotations: Mapping[str, ImageAnnotation], llm_texts: Mapping[str, Sequence[str]] | None = None
) -> list[TextRecord]:
    """Every VLM (and LLM) text as JSONL records with sample id, image sha256 and seed: publish them to reproduce a run."""
    records = []
    for sample_id in sorted(image_annotations):
        annotation = image_annotations[sample_id]
        for seed, text in enumerate(annotation.vlm_texts):
            records.append(TextRecord("vlm", text, sample_id, annotation.image_sha256, seed))
        for seed, text in enumerate((llm_texts or {}).get(sample_id, ())):
            records.append(TextRecord("llm", text, sample_id, annotation.image_sha256, seed))
    return records
