"""Fusion of the modality tokens: CMAF (cross-modality attention + gate) or plain concatenation.

CMAF with our defaults (``docs/paper-model-defaults.md``, "Cross-Modality
Attention Fusion (CMAF)"): the modality tokens (one per
stream, d-dim) get a learned modality embedding; the image token queries all
tokens with multi-head attention, then residual + LayerNorm, an FFN (4d, GELU)
and residual + LayerNorm. A softmax gate computed from all tokens weighs the
fused image token and the text tokens; their weighted sum feeds the
classifier. Without an image stream the first stream queries. The gate
weights are returned so the method can report which modality the model leaned on.
"""

from __future__ import annotations

import torch
from torch import nn


class CrossModalityAttentionFusion(nn.Module):
    def __init__(self, dim: int, num_streams: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.modality_embedding = nn.Parameter(torch.zeros(num_streams, dim))
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_attention = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))
        self.norm_ffn = nn.LayerNorm(dim)
        self.gate = nn.Linear(num_streams * dim, num_streams)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens``: (batch, streams, dim), query stream first. Returns (fused (batch, dim), gate (batch, streams))."""
        tokens = tokens + self.modality_embedding
        query = tokens[:, :1]
        attended, _ = self.attention(query, tokens, tokens, need_weights=False)
        fused = self.norm_attention(query + attended)
        fused = self.norm_ffn(fused + self.ffn(fused))
        outputs = torch.cat([fused, tokens[:, 1:]], dim=1)
        gate = self.gate(tokens.flatten(1)).softmax(dim=-1)
        return (gate.unsqueeze(-1) * outputs).sum(dim=1), gate


class ConcatFusion(nn.Module):
    """The ``cmaf: concat`` ablation: concatenate the tokens, then a 2-layer MLP."""

    def __init__(self, dim: int, num_streams: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(num_streams * dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.num_streams = num_streams

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        uniform = torch.full(tokens.shape[:2], 1.0 / self.num_streams, device=tokens.device)
        return self.mlp(tokens.flatten(1)), uniform


FUSIONS: dict[str, type[nn.Module]] = {"attention": CrossModalityAttentionFusion, "concat": ConcatFusion}
