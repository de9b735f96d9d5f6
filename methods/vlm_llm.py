"""The paper's model: frozen CNN + VLM text + LLM text, PFA, CMAF and TDA, with its ablations.

Progressive Alignment with VLM-LLM Feature to Augment Defect Classification
for the ASE Dataset (arXiv 2404.05183; our defaults where it is silent:
``docs/paper-model-defaults.md``). Per image, once
and cached: OCR reads the printed radius table and statistics, a VLM backend
describes the dot cloud (paper's prompt), an LLM backend reasons over that
description plus OCR template sentences with per-class averages from the
training split only. Learnable encoders map the frozen CNN features and the
frozen sentence-encoder vectors of both texts into one space; PFA aligns them
progressively; CMAF fuses them; a linear head classifies.

Registered variants (the paper's implied ablations; ``--methods all`` runs
them all):

========================  ==============================================
``vlm-llm-full``          everything on
``vlm-llm-no-pfa``        no alignment loss (same architecture)
``vlm-llm-no-cmaf``       concatenation + MLP instead of CMAF
``vlm-llm-no-tda``        no augmented image views, one text per image
``vlm-llm-image-only``    the image stream alone
``vlm-llm-image+vlm``     image + VLM text
``vlm-llm-image+llm``     image + LLM text
========================  ==============================================

Offline defaults: the ``dot-cloud-describer`` and ``numeric-reasoner``
backends are deterministic stand-ins computed from pixels and OCR numbers;
they are *not* a VLM or an LLM and results made with them say so in their
provenance. Point ``vlm_backend``/``llm_backend`` at ``openai``,
``transformers`` or ``cache`` to run the real thing. All defaults where the
paper is silent are listed in :mod:`asebench.methods._vlm_llm.options`.

The sentence encoder (MiniLM-L6) is frozen by default. ``text_finetune_layers:
N`` fine-tunes its last N transformer layers instead, one trainable copy per
text stream, in their own AdamW group at ``text_finetune_lr`` (default 2e-5);
the frozen lower layers run once per cell and only the top N layers train
(:mod:`asebench.methods._vlm_llm.text_finetune`). It is CPU-expensive: on
ase-synth (291 training images, 2 shared cores) about 1 s per epoch frozen vs
28-45 s at N=1, plus about 100 s once per cell (README). Records then carry
``text_finetune_layers`` and ``text_encoder_trainable_parameters`` in their
provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.components.backbone_options import on_pinned_threads
from asebench.methods._vlm_llm.options import VlmLlmOptions, resolved_patience

VARIANTS: dict[str, dict[str, Any]] = {
    "vlm-llm-full": {},
    "vlm-llm-no-pfa": {"pfa": False},
    "vlm-llm-no-cmaf": {"cmaf": "concat"},
    "vlm-llm-no-tda": {"tda": False},
    "vlm-llm-image-only": {"streams": ["image"]},
    "vlm-llm-image+vlm": {"streams": ["image", "vlm"]},
    "vlm-llm-image+llm": {"streams": ["image", "llm"]},
}


class VlmLlmFusion(Method):
    family = "paper"
    proposed = True
    version = "2"
    description = "Paper's model: frozen CNN + VLM/LLM text streams, PFA alignment, CMAF fusion, TDA."
    capabilities = Capabilities(needs_training=True, needs_weights=True, needs_text=True, thread_invariant=True)
    Options = VlmLlmOptions

    @classmethod
    def availability(cls, options: VlmLlmOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        from asebench.methods._vlm_llm.streams import stream_input_availability

        return stream_input_availability(options, allow_download)

    def _inputs(self, split: SplitView, pool: int, augment: bool) -> dict[str, Any]:
        """Per stream: (N, D) inputs, or (N, choices, D) pools for training-time augmentation.

        A fine-tuned text stream gets ``TokenStates`` (rows (N, choices)) instead of vectors.
        """
        from asebench.methods._vlm_llm.image_stream import plain_features, view_features

        options: VlmLlmOptions = self.options  # type: ignore[assignment]
        inputs: dict[str, Any] = {}  # arrays, or TokenStates for a fine-tuned text stream
        if "image" in options.streams:
            features, computed, self.image_provenance = plain_features(options, split, self.context)
            self.features_computed += computed
            if augment:
                views, computed = view_features(options, split, self.context)
                self.features_computed += computed
                features = np.concatenate([features[:, None], views], axis=1)
            inputs["image"] = features
        for stream in options.text_streams:
            if options.text_finetune_layers:
                inputs[stream] = self.streams.token_states(split, stream, pool, options.text_finetune_layers)
            else:
                inputs[stream] = self.streams.embeddings(split, stream, pool)
        return inputs

    def _fixed_inputs(self, split: SplitView, order: Sequence[str]) -> dict[str, Any]:
        """Per stream of ``order``, what validation and inference see: the plain image and the first generation."""
        inputs = self._inputs(split, 1, False)
        return {name: _first_choice(inputs[name]) for name in order}

    @on_pinned_threads
    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        from asebench.methods._vlm_llm.network import stream_order
        from asebench.methods._vlm_llm.streams import TextStreams
        from asebench.methods._vlm_llm.text_finetune import text_towers
        from asebench.methods._vlm_llm.training import StreamInputs
        from asebench.methods._vlm_llm.training import train as train_model

        options: VlmLlmOptions = self.options  # type: ignore[assignment]
        self.patience = resolved_patience(options, self.context.profile)
        self.features_computed = 0
        self.image_provenance = {}
        self.streams = TextStreams(options, self.context)
        pool = options.text_pool if options.tda else 1
        if options.text_streams:
            self.streams.prepare(train, val, pool)  # class statistics for the LLM: training split only
        train_inputs = self._inputs(train, pool, augment=options.tda)
        order = stream_order(list(train_inputs))
        val_inputs = self._fixed_inputs(val, order)
        towers = None
        if options.text_finetune_layers and options.text_streams:
            fine_tuned: dict[str, Any] = {name: train_inputs[name] for name in options.text_streams}
            towers = text_towers(self.streams.encoder, fine_tuned, options.text_finetune_layers)
        self.outcome = train_model(
            StreamInputs({name: train_inputs[name] for name in order}),
            train.labels,
            val_inputs,
            val.labels,
            train.num_classes,
            options,
            self.context.seed,
            self.context.device,
            self.context.progress,
            towers,
            patience=self.patience,
        )
        self.order = order

    def predict(self, test: UnlabeledSplit) -> Predictions:
        from asebench.components.training import torch_threads
        from asebench.methods._vlm_llm.training import infer

        with torch_threads(self.options.torch_threads):  # type: ignore[attr-defined]
            out = infer(self.outcome.model, self._fixed_inputs(test, self.order), self.context.device)
        self.gate_means = dict(zip(self.order, out["gate"].mean(axis=0).round(4).tolist(), strict=True))
        return Predictions(
            labels=out["probabilities"].argmax(1),
            probabilities=out["probabilities"].astype(np.float64),
            features=out["fused"],
            readings=self.streams.readings(test) if self.streams.reads_numbers else None,
        )

    def modules(self) -> list[Any]:
        """The trained fusion network (the image backbone and text encoders feed it through caches, not counted)."""
        return [self.outcome.model]

    def provenance(self) -> dict[str, Any]:
        return {
            **self.image_provenance,
            "streams": list(self.order),
            "image_features_computed": self.features_computed,
            **self.streams.provenance(),
            **self._finetune_provenance(),
            "best_epoch": self.outcome.best_epoch,
            "best_val_macro_f1": self.outcome.best_val_macro_f1,
            "patience": self.patience,
            "epochs_run": len(self.outcome.history),
            "history": self.outcome.history,
            "gate_mean_on_test": getattr(self, "gate_means", {}),
        }

    def _finetune_provenance(self) -> dict[str, Any]:
        """How much of the text encoder trained (0 layers, 0 parameters: frozen); nothing without text streams."""
        options: VlmLlmOptions = self.options  # type: ignore[assignment]
        if not options.text_streams:
            return {}
        towers = self.outcome.model.text_towers.parameters()
        return {
            "text_finetune_layers": options.text_finetune_layers,
            "text_encoder_trainable_parameters": sum(p.numel() for p in towers if p.requires_grad),
        }


def _first_choice(value: Any) -> Any:
    """Pool member 0 of every sample (the first generation, the plain image); fixed inputs pass through."""
    from asebench.methods._vlm_llm.text_finetune import TokenStates

    if isinstance(value, TokenStates):
        return value.first()
    return value[:, 0] if value.ndim == 3 else value


for _name, _preset in VARIANTS.items():
    register_method(_name, **_preset)(VlmLlmFusion)
