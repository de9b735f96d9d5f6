"""Fine-tuning the last transformer layers of the sentence encoder (option ``text_finetune_layers``).

``docs/paper-model-defaults.md``, "Encoders": "an option unfreezes the
encoder's last layers". With ``text_finetune_layers: N`` (N > 0) each text stream gets its own
trainable deep copy of the encoder's last N layers (weights not shared, like
the MLPs); the shared frozen encoder is never modified. Because the lower
layers stay frozen, they run once per cell under ``torch.inference_mode()``
over every text the cell needs; what is kept is the hidden state entering the
first fine-tuned layer and the attention mask (``TokenStates``, float16 to
halve memory). Training then runs only the top N layers and the pooling per
batch (``TextTower``). Pooling is the frozen path's (attention-mask mean,
L2-normalised), so with unchanged weights the tower reproduces the frozen
sentence vectors. Layers are found generically for Hugging Face BERT-like
encoders (``model.encoder.layer``: BERT, MiniLM, RoBERTa, XLM-R, ELECTRA).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from asebench.api.errors import ConfigError
from asebench.methods._vlm_llm.text_encoder import TextEncoder, mean_pool

REPRODUCTION_SAMPLES = 8
REPRODUCTION_TOLERANCE = (
    1e-3  # float16 token states move MiniLM-L6 vectors by about 5e-5; a wrong layer call by far more
)


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer layers of a BERT-like encoder, bottom first (``model.encoder.layer``)."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        raise ConfigError(
            f"text_finetune_layers needs a BERT-like text encoder whose layers are model.encoder.layer; "
            f"{type(model).__name__} has no such layer list (use text_finetune_layers: 0)"
        )
    return layers


def checked_layers(encoder: TextEncoder, requested: int) -> nn.ModuleList:
    """The encoder's layers, failing before any work when more are asked for than it has."""
    layers = encoder_layers(encoder.model())
    if requested > len(layers):
        raise ConfigError(
            f"text_finetune_layers is {requested} but the text encoder {encoder.directory} has only {len(layers)} "
            "transformer layers"
        )
    return layers


def attention_bias(config: Any, hidden: torch.Tensor, mask: torch.Tensor) -> Any:
    """The attention mask the encoder's layers expect, built as the installed transformers builds it.

    transformers >= 4.56 builds it with ``masking_utils.create_bidirectional_mask``
    (its format depends on the attention implementation: eager, sdpa, flex;
    None when nothing is padded). Older versions took the additive
    (batch, 1, 1, T) float mask that ``get_extended_attention_mask`` made,
    which eager and sdpa attention both accept.
    """
    try:
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:
        return (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)


class TextTower(nn.Module):
    """A trainable copy of the encoder's last layers plus the frozen path's pooling: token states -> sentence vector."""

    def __init__(self, layers: Iterable[nn.Module], config: Any) -> None:
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(list(layers)))  # a copy: the cached frozen encoder stays untouched
        self.layers.requires_grad_(True)
        self.config = config

    @classmethod
    def from_encoder(cls, encoder: TextEncoder, count: int) -> TextTower:
        """A fresh copy of the last ``count`` layers of ``encoder``'s model."""
        layers = checked_layers(encoder, count)
        return cls(layers[len(layers) - count :], encoder.model().config)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        bias = attention_bias(self.config, hidden, mask)
        for layer in self.layers:
            output = layer(hidden, bias)
            hidden = output[0] if isinstance(output, tuple) else output  # transformers 4.x layers return tuples
        return mean_pool(hidden, mask)


@dataclass
class TokenStates:
    """One fine-tuned text stream's inputs: each distinct text's token states once, and which text each sample uses.

    ``hidden`` (texts, T, H, float16 by default) and ``mask`` (texts, T) bool
    live on the CPU; ``rows`` is (N,) for one text per sample or (N, pool) for a pool that
    TDA draws from each epoch. ``vectors`` are the frozen sentence vectors of
    the same texts, shaped like the frozen stream's input ((N, D) or (N, pool,
    D)); the stream's Standardizer is fitted on them.
    """

    hidden: torch.Tensor
    mask: torch.Tensor
    rows: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def draw(self, rng: np.random.Generator) -> TokenStates:
        """One pool member per sample, with the same generator call as a pooled vector array (same draw order)."""
        if self.rows.ndim == 1:
            return self
        choice = rng.integers(0, self.rows.shape[1], size=len(self.rows))
        return self.pick(choice)

    def first(self) -> TokenStates:
        """Pool member 0 of every sample, what validation and inference see."""
        return self if self.rows.ndim == 1 else self.pick(np.zeros(len(self.rows), dtype=np.int64))

    def pick(self, choice: np.ndarray) -> TokenStates:
        """Pool member ``choice[i]`` of every sample i."""
        samples = np.arange(len(self.rows))
        return replace(self, rows=self.rows[samples, choice], vectors=self.vectors[samples, choice])

    def batch(self, index: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden float32, mask) of samples ``index`` on ``device``, cut after the batch's last real token."""
        rows = torch.as_tensor(self.rows[index], dtype=torch.long)
        mask = self.mask[rows]
        length = int(mask.any(0).nonzero().max()) + 1
        return self.hidden[rows, :length].to(device).float(), mask[:, :length].to(device)


def token_states(
    encoder: TextEncoder,
    texts: Sequence[Sequence[str]],
    vectors: np.ndarray,
    finetune_layers: int,
    dtype: torch.dtype = torch.float16,
) -> TokenStates:
    """Run the frozen layers below the last ``finetune_layers`` once over the distinct texts of ``texts`` (N, pool).

    float16 storage rounds the states (sentence vectors move by about 5e-5 on
    MiniLM-L6, cosine 0.9999998); float32 reproduces them exactly at twice the memory.
    """
    layers = checked_layers(encoder, finetune_layers)
    distinct = list(dict.fromkeys(text for per_sample in texts for text in per_sample))
    position = {text: row for row, text in enumerate(distinct)}
    rows = np.array([[position[text] for text in per_sample] for per_sample in texts], dtype=np.int64)
    hidden, mask = encoder.hidden_states(distinct, len(layers) - finetune_layers, dtype)
    return TokenStates(hidden, mask, rows, vectors)


def text_towers(encoder: TextEncoder, streams: Mapping[str, TokenStates], count: int) -> dict[str, TextTower]:
    """One fresh trainable copy of the last ``count`` layers per stream, each checked against its frozen vectors.

    The check (a few training texts, weights untouched) catches encoders whose
    layers cannot be run on their own this way (relative-position models,
    another mask format): their vectors would silently differ from the frozen ones.
    """
    towers = {name: TextTower.from_encoder(encoder, count) for name in streams}
    for name, tower in towers.items():
        states = streams[name].first()
        index = np.arange(min(REPRODUCTION_SAMPLES, len(states)))
        with torch.no_grad():
            pooled = tower.eval()(*states.batch(index, encoder.device)).cpu().numpy()
        gap = float(np.abs(pooled - states.vectors[index]).max())
        if gap > REPRODUCTION_TOLERANCE:
            raise ConfigError(
                f"text_finetune_layers: the last {count} layers of {encoder.directory} run on their own give sentence "
                f"vectors {gap:.2g} away from the frozen encoder's; this architecture is not supported for fine-tuning"
            )
    return towers
