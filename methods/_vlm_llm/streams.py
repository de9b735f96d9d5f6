"""The two text streams of the paper's model, from the annotation pipeline to sentence vectors.

Phase 1 (label-free, any split): OCR and the VLM description of each image.
Phase 2 (needs the training labels): the LLM text of each image, whose prompt
context holds the OCR template sentences with per-class averages computed
from the training split of this cell only (the leakage rule). With
``llm_cross_fit_folds: k`` a training image's own text is cross-fitted: its
averages come from the other folds of the training split
(``asebench.annotation.out_of_fold``), so no training text averages in its own
image; validation and test texts always use the whole training split. Every
text is cached by the annotation cache, every vector by the text encoder's
cache, so seeds, variants and reruns share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from asebench.api.method import LabeledSplit, MethodContext, SplitView
from asebench.methods._vlm_llm.options import StreamInputOptions

if TYPE_CHECKING:
    from asebench.methods._vlm_llm.text_finetune import TokenStates


def stream_input_availability(options: StreamInputOptions, allow_download: bool = False) -> str | None:
    """Why the model's inputs cannot be computed here (torch, CNN weights, text streams), or None.

    Shared by the paper's model and ``vlm-llm-linear``, which read the same inputs.
    """
    import importlib.util

    from asebench.components.backbone_options import BackboneOptions, backbone_availability

    if importlib.util.find_spec("torch") is None:
        return "needs torch (pip install 'asebench[vision]')"
    if "image" in options.streams:
        backbone = BackboneOptions(model=options.backbone, weights=options.backbone_weights)
        reason = backbone_availability(backbone, allow_download)
        if reason:
            return reason
    return text_stream_availability(options) if options.text_streams else None


def text_stream_availability(options: StreamInputOptions) -> str | None:
    """Why the text streams cannot run here (encoder, OCR engine, backends), or None."""
    from asebench.annotation import make_backend
    from asebench.domains.ase.annotation import make_ocr_engine
    from asebench.methods._vlm_llm.text_encoder import resolve_text_encoder

    _, reason = resolve_text_encoder(options.text_encoder)
    if reason:
        return reason
    if "llm" in options.streams and options.ocr != "none":
        reason = make_ocr_engine(options.ocr, options.ocr_options).availability()
        if reason:
            return f"OCR engine {options.ocr!r}: {reason}"
    if "llm" in options.streams:
        reason = make_backend(options.llm_backend, options.llm_options).availability()
        if reason:
            return f"LLM backend {options.llm_backend!r}: {reason}"
    reason = make_backend(options.vlm_backend, options.vlm_options).availability()
    return f"VLM backend {options.vlm_backend!r}: {reason}" if reason else None


class TextStreams:
    """Builds and embeds the VLM and LLM texts of any split, caching everything."""

    def __init__(self, options: StreamInputOptions, context: MethodContext) -> None:
        self.options = options
        self.context = context
        self.reads_numbers = bool(options.text_streams) and "llm" in options.streams and options.ocr != "none"
        self.class_stats: Any = None
        self._training_stats: dict[str, Any] = {}  # training sample id -> its out-of-fold statistics
        self._images: dict[str, Any] = {}
        if options.text_streams:
            self._build()

    def _build(self) -> None:
        from asebench.annotation import AnnotationCache, AnnotationStats, make_backend
        from asebench.domains.ase.annotation import make_ocr_engine
        from asebench.domains.ase.prompts import LLM_PROMPT, VLM_PROMPT
        from asebench.methods._vlm_llm.text_encoder import TextEncoder, resolve_text_encoder

        options = self.options
        directory, reason = resolve_text_encoder(options.text_encoder)
        if directory is None:
            raise RuntimeError(reason)
        cache_root = Path(self.context.cache_dir)
        self.encoder = TextEncoder(directory, cache_root, self.context.device, options.text_max_length)
        self.ocr = make_ocr_engine(options.ocr, options.ocr_options) if self.reads_numbers else None
        self.vlm = make_backend(options.vlm_backend, options.vlm_options)
        self.llm = make_backend(options.llm_backend, options.llm_options) if "llm" in options.streams else None
        self.vlm_prompt = options.vlm_prompt or VLM_PROMPT
        self.llm_prompt = options.llm_prompt or LLM_PROMPT
        self.cache = AnnotationCache(cache_root / "annotations")
        self.stats = AnnotationStats()

    # -- phase 1: label-free -------------------------------------------------------------

    def _annotate(self, split: SplitView, pool: int) -> list[Any]:
        from asebench.domains.ase.annotation import annotate_images

        missing = [s for s in split.samples if s.id not in self._images or len(self._images[s.id].vlm_texts) < pool]
        if missing:
            fresh = annotate_images(
                missing,
                ocr_engine=self.ocr,
                vlm_backend=self.vlm,
                cache=self.cache,
                pool_size=pool,
                prompt=self.vlm_prompt,
                stats=self.stats,
                progress=self.context.progress,
            )
            self._images.update(fresh)
        return [self._images[s.id] for s in split.samples]

    def readings(self, split: SplitView) -> dict[str, np.ndarray]:
        """What OCR read from each image of ``split``, key -> (N,) floats with NaN where unread."""
        from asebench.domains.ase.ocr_reading import FLAT_KEYS

        annotations = self._annotate(split, 1)
        return {key: np.array([a.ocr.as_vector([key])[0] for a in annotations], dtype=float) for key in FLAT_KEYS}

    # -- phase 2: needs training labels ---------------------------------------------------

    def prepare(self, train: LabeledSplit, val: SplitView, train_pool: int = 1) -> None:
        """OCR and describe train (``train_pool`` texts each) and validation images; fit class statistics on train only."""
        from asebench.domains.ase.class_statistics import ClassStatistics, out_of_fold_statistics

        annotations = self._annotate(train, train_pool)
        self._annotate(val, 1)
        if "llm" in self.options.streams:
            readings = [a.ocr for a in annotations]
            features = [a.features for a in annotations]
            self.class_stats = ClassStatistics.fit(readings, train.labels, train.class_names, features=features)
            if self.options.llm_cross_fit_folds:
                per_sample = out_of_fold_statistics(
                    readings,
                    train.labels,
                    train.class_names,
                    features,
                    self.options.llm_cross_fit_folds,
                    self.context.seed,
                )
                self._training_stats = {s.id: stats for s, stats in zip(train.samples, per_sample, strict=True)}

    def _llm_texts(self, split: SplitView, pool: int) -> list[list[str]]:
        """Training samples get their out-of-fold statistics (when cross-fitting), every other sample the full ones."""
        from asebench.domains.ase.annotation import reason

        assert self.llm is not None, "the llm stream's texts are asked only when the stream (and so its backend) is on"
        annotations = {s.id: a for s, a in zip(split.samples, self._annotate(split, pool), strict=True)}
        groups: dict[int, tuple[Any, list[Any]]] = {}
        for sample in split.samples:
            statistics = self._training_stats.get(sample.id, self.class_stats)
            groups.setdefault(id(statistics), (statistics, []))[1].append(sample)
        texts: dict[str, list[str]] = {}
        for statistics, samples in groups.values():
            texts.update(
                reason(
                    samples,
                    annotations,
                    statistics,
                    llm_backend=self.llm,
                    cache=self.cache,
                    pool_size=pool,
                    prompt=self.llm_prompt,
                    stats=self.stats,
                    progress=self.context.progress,
                )
            )
        return [texts[s.id][:pool] for s in split.samples]

    def texts(self, split: SplitView, stream: str, pool: int) -> list[list[str]]:
        """``pool`` texts per sample of one stream (generation seeds 0..pool-1)."""
        if stream == "vlm":
            return [list(a.vlm_texts[:pool]) for a in self._annotate(split, pool)]
        return self._llm_texts(split, pool)

    def embeddings(self, split: SplitView, stream: str, pool: int) -> np.ndarray:
        """(N, pool, D) sentence vectors of one stream's texts."""
        return self._vectors(self.texts(split, stream, pool), pool)

    def _vectors(self, texts: list[list[str]], pool: int) -> np.ndarray:
        flat: Sequence[str] = [text for per_sample in texts for text in per_sample]
        vectors = self.encoder.encode(flat)
        return vectors.reshape(len(texts), pool, -1)

    def token_states(self, split: SplitView, stream: str, pool: int, layers: int) -> TokenStates:
        """What a fine-tuned stream trains on: the token states below its last ``layers`` layers, and the frozen vectors."""
        from asebench.methods._vlm_llm.text_finetune import token_states

        texts = self.texts(split, stream, pool)
        return token_states(self.encoder, texts, self._vectors(texts, pool), layers)

    def _training_text_mode(self) -> str:
        """Which class averages the training split's own LLM texts were built with."""
        if self._training_stats:
            return f"cross-fitted over {self.options.llm_cross_fit_folds} folds of the training split"
        return "in-sample training-split statistics"

    def provenance(self) -> dict[str, Any]:
        if not self.options.text_streams:
            return {}
        from asebench.annotation import engine_provenance

        return {
            **self.encoder.provenance(),
            "text_vectors_computed": self.encoder.computed,
            "ocr": engine_provenance(self.ocr) if self.ocr is not None else None,
            "vlm": self.vlm.provenance(),
            "llm": self.llm.provenance() if self.llm is not None else None,
            "vlm_prompt": self.vlm_prompt,
            "llm_prompt": self.llm_prompt if self.llm is not None else None,
            "llm_training_texts": self._training_text_mode() if self.llm is not None else None,
            "annotation": self.stats.as_dict(),
        }
