"""Training the learnable part on precomputed stream embeddings.

L = CE + lambda * L_PFA (our defaults, ``docs/paper-model-defaults.md``: "Progressive Feature
Alignment (PFA)", "Training and protocol"): AdamW (lr 1e-4, weight
decay 1e-4), cosine schedule with optional warm-up, batch 32, early stopping on
validation macro-F1 with the best epoch's weights restored. With TDA, each
epoch draws one augmented image view and one text of each stream's
generation pool per training sample; validation and test always use the plain
image and the first generation, so they see exactly what inference sees.

A fine-tuned text stream (``text_finetune_layers``) arrives as ``TokenStates``:
the same per-epoch draw picks each sample's text (same generator calls, so
nothing else shifts), each batch runs its trainable encoder layers, and those
layers learn in their own AdamW group at ``text_finetune_lr`` under the same
schedule. Its Standardizer is fitted on the frozen sentence vectors, which
are exactly the tower's outputs before training.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from asebench.components.training import fused_adamw
from asebench.methods._vlm_llm.network import MultimodalClassifier
from asebench.methods._vlm_llm.options import VlmLlmOptions
from asebench.methods._vlm_llm.pfa import progressive_contrastive_loss, stage_fraction
from asebench.methods._vlm_llm.text_finetune import TokenStates

StreamArray = np.ndarray | TokenStates
TOWER_INFER_BATCH = 32


@dataclass
class StreamInputs:
    """Per stream an array: (N, D) for fixed inputs, (N, choices, D) for a pool drawn from each epoch.

    A fine-tuned text stream is a ``TokenStates`` whose rows are (N,) or (N, choices).
    """

    arrays: Mapping[str, StreamArray]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def draw(self, rng: np.random.Generator) -> dict[str, StreamArray]:
        """One (N, D) array per stream: a random pool member per sample where there is a pool."""
        drawn: dict[str, StreamArray] = {}
        for name, array in self.arrays.items():
            if isinstance(array, TokenStates):
                array = array.draw(rng)
            elif array.ndim == 3:
                choice = rng.integers(0, array.shape[1], size=len(array))
                array = array[np.arange(len(array)), choice]
            drawn[name] = array
        return drawn


@dataclass
class TrainingOutcome:
    model: MultimodalClassifier
    best_epoch: int
    best_val_macro_f1: float
    history: list[dict[str, float]] = field(default_factory=list)


def _to_tensors(arrays: Mapping[str, StreamArray], index: np.ndarray, device: str) -> dict[str, Any]:
    return {
        name: array.batch(index, device)
        if isinstance(array, TokenStates)
        else torch.as_tensor(array[index], dtype=torch.float32, device=device)
        for name, array in arrays.items()
    }


def _frozen_vectors(array: StreamArray) -> np.ndarray:
    """What a stream's Standardizer is fitted on: its input, or a fine-tuned stream's frozen sentence vectors."""
    return array.vectors if isinstance(array, TokenStates) else array


@torch.no_grad()
def infer(model: MultimodalClassifier, inputs: Mapping[str, StreamArray], device: str) -> dict[str, np.ndarray]:
    """Probabilities, fused embeddings and gate weights for fixed inputs.

    Batches of 256 by default; with fine-tuned text layers, which run on token
    states, batches of 32 keep the attention activations small (MiniLM-L6 at
    256 texts of 160 tokens needs about 1 GB).
    """
    batch_size = TOWER_INFER_BATCH if len(model.text_towers) else 256
    model.eval()
    count = len(next(iter(inputs.values())))
    parts: dict[str, list[np.ndarray]] = {"probabilities": [], "fused": [], "gate": []}
    for start in range(0, count, batch_size):
        index = np.arange(start, min(start + batch_size, count))
        out = model(_to_tensors(inputs, index, device))
        parts["probabilities"].append(out["logits"].softmax(-1).cpu().numpy())
        parts["fused"].append(out["fused"].cpu().numpy())
        parts["gate"].append(out["gate"].cpu().numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}


def _scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train(
    train_inputs: StreamInputs,
    train_labels: np.ndarray,
    val_inputs: Mapping[str, StreamArray],
    val_labels: np.ndarray,
    num_classes: int,
    options: VlmLlmOptions,
    seed: int,
    device: str,
    progress: Any,
    text_towers: Mapping[str, torch.nn.Module] | None = None,
    *,
    patience: int,
) -> TrainingOutcome:
    """Train from ``seed``; ``text_towers`` are the fine-tuned encoder layers of the streams given as TokenStates.

    ``patience``: epochs without a better validation macro-F1 before stopping
    (the method resolves ``options.patience`` against the profile).
    """
    from asebench.scoring.classification import macro_f1

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    frozen = {name: _frozen_vectors(array) for name, array in train_inputs.arrays.items()}
    input_dims = {name: int(array.shape[-1]) for name, array in frozen.items()}
    model = MultimodalClassifier(
        input_dims, num_classes, options.dim, options.cmaf, options.cmaf_heads, options.dropout, text_towers
    ).to(device)
    model.set_input_statistics(
        {name: torch.as_tensor(array, dtype=torch.float32, device=device) for name, array in frozen.items()}
    )
    parameters = model.parameter_groups(options.lr, options.text_finetune_lr) if text_towers else model.parameters()
    optimizer = fused_adamw(parameters, options.lr, options.weight_decay, device)
    steps_per_epoch = math.ceil(len(train_inputs) / options.batch_size)
    scheduler = _scheduler(optimizer, options.warmup_epochs * steps_per_epoch, options.epochs * steps_per_epoch)
    class_weight = None
    if options.class_weighting:
        counts = np.bincount(train_labels, minlength=num_classes).astype(np.float64)
        class_weight = torch.as_tensor(
            counts.sum() / (num_classes * np.maximum(counts, 1)), dtype=torch.float32, device=device
        )
    labels = torch.as_tensor(train_labels, dtype=torch.long, device=device)
    text_streams = [name for name in options.text_streams if name in input_dims]

    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    history: list[dict[str, float]] = []
    for epoch in range(options.epochs):
        model.train()
        fraction = stage_fraction(options.pfa_stages, epoch, options.epochs)
        drawn = train_inputs.draw(rng)
        order = rng.permutation(len(train_inputs))
        totals = {"ce": 0.0, "pfa": 0.0}
        for start in range(0, len(order), options.batch_size):
            index = order[start : start + options.batch_size]
            out = model(_to_tensors(drawn, index, device))
            ce = F.cross_entropy(out["logits"], labels[index], weight=class_weight)
            loss = ce
            if options.uses_alignment and text_streams:
                pfa = torch.stack(
                    [
                        progressive_contrastive_loss(
                            out["aligned_image"],
                            out[f"aligned_{name}"],
                            labels[index],
                            fraction,
                            options.pfa_temperature,
                        )
                        for name in text_streams
                    ]
                ).mean()
                loss = ce + options.pfa_weight * pfa
                totals["pfa"] += float(pfa.detach()) * len(index)
            if not torch.isfinite(loss):
                from asebench.api.errors import NonFiniteLossError

                raise NonFiniteLossError(f"non-finite loss at epoch {epoch + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            totals["ce"] += float(ce.detach()) * len(index)
        val_pred = infer(model, val_inputs, device)["probabilities"].argmax(1)
        val_f1 = macro_f1(val_labels, val_pred, num_classes)
        history.append(
            {
                "epoch": epoch + 1,
                "train_ce": totals["ce"] / len(order),
                "train_pfa": totals["pfa"] / len(order),
                "pfa_fraction": fraction,
                "val_macro_f1": val_f1,
            }
        )
        if best is None or val_f1 > best[0]:
            best = (val_f1, epoch + 1, copy.deepcopy(model.state_dict()))
        progress("vlm-llm training", epoch + 1, options.epochs)
        if epoch + 1 - best[1] >= patience:
            break
    assert best is not None
    model.load_state_dict(best[2])
    return TrainingOutcome(model, best[1], best[0], history)
