"""The learnable part of the paper's model: stream encoders, the PFA block, fusion, classifier.

Inputs are precomputed frozen embeddings (CNN features, sentence-encoder
vectors), so training never runs the CNN, the VLM or the LLM ([P]: those are
frozen). Image encoder: Linear -> GELU -> Linear to d. Text encoders: one
2-layer MLP per text stream, weights not shared. The PFA block projects every
stream into the shared space where the contrastive loss acts; its outputs are
the tokens CMAF fuses.

With ``text_finetune_layers: N`` a text stream's input is instead the token
states below the sentence encoder's last N layers, and that stream's own
trainable copy of those layers (``text_towers``, part of the state dict, so
early stopping restores it) pools them into the sentence vector the MLP reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from asebench.methods._vlm_llm.fusion import FUSIONS


def _mlp(in_dim: int, dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))


class Standardizer(nn.Module):
    """z-scores one frozen input with the training split's per-dimension mean and std (buffers, set by ``fit``)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, size: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    def fit(self, values: torch.Tensor) -> None:
        values = values.reshape(-1, values.shape[-1])
        self.mean.copy_(values.mean(0))
        self.std.copy_(values.std(0).clamp(min=1e-6))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean) / self.std


class MultimodalClassifier(nn.Module):
    def __init__(
        self,
        input_dims: Mapping[str, int],
        num_classes: int,
        dim: int,
        fusion: str,
        heads: int,
        dropout: float,
        text_towers: Mapping[str, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.streams: tuple[str, ...] = tuple(input_dims)
        self.standardizers = nn.ModuleDict({name: Standardizer(size) for name, size in input_dims.items()})
        self.encoders = nn.ModuleDict({name: _mlp(size, dim, dropout) for name, size in input_dims.items()})
        self.alignment = nn.ModuleDict({name: nn.Linear(dim, dim) for name in self.streams})
        self.fusion = FUSIONS[fusion](dim, len(self.streams), heads, dropout)
        self.classifier = nn.Linear(dim, num_classes)
        # registered last and built elsewhere: the frozen-encoder model draws its initial weights exactly as before
        self.text_towers = nn.ModuleDict(dict(text_towers or {}))

    def set_input_statistics(self, inputs: Mapping[str, torch.Tensor]) -> None:
        """Standardise every input dimension with the mean and std of the training inputs given here.

        The frozen streams live on very different scales (CNN activations vs
        unit-norm sentence vectors, whose components are about 0.05); without
        this the image stream dominates the first layers and the texts barely move.
        """
        for name in self.streams:
            standardizer = self.standardizers[name]
            assert isinstance(standardizer, Standardizer)
            standardizer.fit(inputs[name])

    def _standardized(self, name: str, value: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """A frozen input z-scored; a fine-tuned text stream's (hidden, mask) goes through its tower first."""
        if name in self.text_towers:
            value = self.text_towers[name](*value)
        return self.standardizers[name](value)

    def parameter_groups(self, lr: float, tower_lr: float) -> list[dict[str, Any]]:
        """AdamW groups: everything at ``lr``, the fine-tuned encoder layers (if any) at ``tower_lr``."""
        towers = list(self.text_towers.parameters())
        tower_ids = {id(parameter) for parameter in towers}
        rest = [parameter for parameter in self.parameters() if id(parameter) not in tower_ids]
        return [{"params": rest, "lr": lr}, {"params": towers, "lr": tower_lr}]

    def forward(self, inputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Logits, the aligned per-stream tokens (for PFA), the fused embedding and the gate weights."""
        aligned = {
            name: self.alignment[name](self.encoders[name](self._standardized(name, inputs[name])))
            for name in self.streams
        }
        fused, gate = self.fusion(torch.stack([aligned[name] for name in self.streams], dim=1))
        return {
            "logits": self.classifier(fused),
            "fused": fused,
            "gate": gate,
            **{f"aligned_{k}": v for k, v in aligned.items()},
        }


def stream_order(streams: Sequence[str]) -> tuple[str, ...]:
    """The image stream, when present, comes first: it is CMAF's query."""
    return tuple(sorted(streams, key=lambda name: name != "image"))
