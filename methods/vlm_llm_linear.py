"""``vlm-llm-linear``: the paper model's frozen inputs under a logistic regression (a control).

The same three inputs as ``vlm-llm-full`` (frozen CNN features, the sentence
vectors of the VLM text and of the LLM text, built by the same annotation
pipeline, caches and training-split-only class statistics) are concatenated,
standardised and classified by a class-balanced logistic regression whose
``C`` is chosen on validation macro-F1: the linear probes' head
(:mod:`asebench.components.logistic_head`), with a wider grid.
Nothing is learned but that linear head: no stream encoders, PFA, CMAF or TDA.

Why it is registered: it separates what the text inputs carry from what the
learned fusion adds. If ``vlm-llm-full`` does not beat it, the gain over the
image-only models comes from the texts, not from PFA or CMAF. Each training
image contributes its first generation only, as validation and test do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.components.logistic_head import LogisticHead, LogisticHeadOptions
from asebench.methods._vlm_llm.options import StreamInputOptions


class LinearFusionOptions(StreamInputOptions, LogisticHeadOptions):
    """The paper model's input settings under the linear probes' head, with a wider grid."""

    c_grid: list[float] = Field(
        default_factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0],
        description="one decade below the vision probe's grid: 2,048 inputs (1280 + 2 x 384) need stronger shrinkage",
    )
    max_iter: int = Field(5000, ge=10)


@register_method("vlm-llm-linear")
class LinearFusion(Method):
    family = "paper"
    proposed = True
    version = "1"
    description = "Control: vlm-llm-full's frozen inputs (CNN + VLM and LLM text vectors) under a logistic regression."
    capabilities = Capabilities(needs_training=True, needs_weights=True, needs_text=True, thread_invariant=True)
    Options = LinearFusionOptions

    @classmethod
    def availability(cls, options: LinearFusionOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        from asebench.methods._vlm_llm.streams import stream_input_availability

        return stream_input_availability(options, allow_download)

    def _features(self, split: SplitView) -> np.ndarray:
        from asebench.methods._vlm_llm.image_stream import plain_features

        options: LinearFusionOptions = self.options  # type: ignore[assignment]
        parts = []
        if "image" in options.streams:
            features, computed, self.extraction = plain_features(options, split, self.context)
            self.computed += computed
            parts.append(features)
        parts += [self.streams.embeddings(split, stream, 1)[:, 0] for stream in options.text_streams]
        return np.concatenate(parts, axis=1)

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        from asebench.methods._vlm_llm.streams import TextStreams

        options: LinearFusionOptions = self.options  # type: ignore[assignment]
        self.extraction = {}
        self.streams = TextStreams(options, self.context)
        if options.text_streams:
            self.streams.prepare(train, val)  # class statistics for the LLM: training split only
        self.computed = 0
        self.head = LogisticHead(options)
        self.head.fit(self._features(train), train.labels, self._features(val), val.labels, train.num_classes)

    def predict(self, test: UnlabeledSplit) -> Predictions:
        return self.head.predict(self._features(test), test.num_classes)

    def provenance(self) -> dict[str, Any]:
        options: LinearFusionOptions = self.options  # type: ignore[assignment]
        probe = {**self.extraction, **self.head.selected, "features_computed": self.computed}
        return {**probe, "streams": list(options.streams), **self.streams.provenance()}
