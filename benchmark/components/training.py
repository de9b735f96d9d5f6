"""A supervised training loop shared by the torch-based methods.

AdamW with linear warm-up then cosine decay, early stopping on validation
macro-F1 (model selection only; reported metrics are computed by the runner
from test predictions), the best epoch's weights restored at the end, AMP and
channels_last on CUDA, gradient accumulation, and class-weighted or focal loss
for the tail classes.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from asebench.api.errors import NonFiniteLossError
from asebench.scoring.classification import macro_f1


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads (None: leave torch's setting), then restore it.

    Small networks train as fast or faster on one thread, and a fixed count
    makes their numbers the same on any machine and under any executor
    (float sums split over threads round differently).
    """
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fused_adamw(parameters: Any, lr: float, weight_decay: float, device: str) -> torch.optim.AdamW:
    """AdamW with ``fused=True`` on CPU and CUDA: one pass over every parameter per step instead of about ten.

    On the paper model's 5.8 M parameters the optimizer step is 4-5x faster
    than ``foreach`` on one CPU thread. The updates agree with ``foreach`` to
    about 1e-7, not bit for bit, so switching changes trained numbers once;
    the fused kernel is itself deterministic at a fixed thread count. The
    paper model uses it: its 16 quick-profile records kept every table value.
    Other devices (MPS, XPU) keep ``foreach``.
    """
    if torch.device(device).type in ("cpu", "cuda"):
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, foreach=True)


LossName = Literal["ce", "weighted_ce", "focal"]


@dataclass(frozen=True)
class TrainSettings:
    """What the loop needs from a method's options, resolved against the profile."""

    epochs: int
    lr: float
    weight_decay: float
    warmup_epochs: int
    patience: int
    loss: LossName
    focal_gamma: float
    grad_accumulation: int
    amp: bool
    freeze_batchnorm: bool = False
    backbone_lr_scale: float = 1.0


@dataclass
class TrainResult:
    """The selected epoch and the per-epoch history, for the record's provenance."""

    best_epoch: int
    best_val_macro_f1: float
    epochs_run: int
    history: list[dict[str, float]]


def make_loss(
    kind: LossName, class_counts: np.ndarray, gamma: float, device: str
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy, inverse-frequency weighted cross-entropy, or focal loss."""
    weight = None
    if kind in ("weighted_ce", "focal"):
        counts = np.maximum(class_counts.astype(float), 1.0)
        weight = torch.tensor(counts.sum() / (len(counts) * counts), dtype=torch.float32, device=device)
    if kind == "focal":

        def focal(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            log_p = F.log_softmax(logits.float(), dim=1)
            log_pt = log_p.gather(1, target[:, None]).squeeze(1)
            loss = -((1 - log_pt.exp()) ** gamma) * log_pt
            return (loss * weight[target]).mean() if weight is not None else loss.mean()

        return focal
    return lambda logits, target: F.cross_entropy(logits.float(), target, weight=weight)


def cosine_with_warmup(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps`` optimizer steps, then cosine decay to zero at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.inference_mode()
def predict_logits(model: nn.Module, loader: DataLoader[Any], device: str, amp: bool) -> torch.Tensor:
    """Logits of every batch of ``loader``, in order, on the CPU (validation during training, then the test split)."""
    model.eval()
    outputs = []
    for images, _ in loader:
        images = images.to(device, non_blocking=True)
        if device.startswith("cuda"):
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=amp):
            outputs.append(model(images).float().cpu())
    return torch.cat(outputs) if outputs else torch.zeros(0)


def parameter_groups(
    model: nn.Module, head: nn.Module | None, lr: float, backbone_scale: float
) -> list[dict[str, Any]]:
    """The trainable parameters, the head's at the base learning rate and the backbone's scaled.

    Why: a pretrained backbone moved at the freshly initialised head's rate
    forgets its features within an epoch on a few hundred images.
    """
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    head_params = [p for p in model.parameters() if p.requires_grad and id(p) in head_ids]
    if head is None or backbone_scale == 1.0:
        return [{"params": backbone + head_params, "lr": lr}]
    return [{"params": backbone, "lr": lr * backbone_scale}, {"params": head_params, "lr": lr}]


def freeze_batchnorm_statistics(model: nn.Module) -> None:
    """Put every BatchNorm layer in eval mode: it normalises with its stored (pretrained) statistics.

    Why: with a few hundred images and 32-image batches, batch statistics in
    training and running statistics at validation disagree while the running
    averages catch up; early epochs then validate near chance and the selected
    epoch depends on floating-point summation order (thread count, CPU).
    Frozen statistics make training and evaluation the same function.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def train_classifier(
    model: nn.Module,
    train_loader: DataLoader[Any],
    val_loader: DataLoader[Any],
    val_labels: np.ndarray,
    class_counts: np.ndarray,
    settings: TrainSettings,
    device: str,
    progress: Callable[[str, int, int], None],
    head: nn.Module | None = None,
) -> TrainResult:
    """Train ``model`` in place and leave it holding the best validation epoch's weights.

    ``head`` (the new classifier layer) trains at ``settings.lr``; the rest at
    ``settings.lr * settings.backbone_lr_scale``.
    """
    num_classes = len(class_counts)
    loss_fn = make_loss(settings.loss, class_counts, settings.focal_gamma, device)
    optimizer = torch.optim.AdamW(
        parameter_groups(model, head, settings.lr, settings.backbone_lr_scale),
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        # foreach, not fused_adamw: its ~1e-7 rounding moved the quick profile's fine-tunes by up to 0.11
        # macro-F1 (chaotic 6-epoch training), and their optimizer step is a small share of a conv net's step
        foreach=True,  # one kernel per step for all the tensors (the same arithmetic: bit-identical updates)
    )
    steps_per_epoch = max(1, math.ceil(len(train_loader) / settings.grad_accumulation))
    scheduler = cosine_with_warmup(
        optimizer, settings.warmup_epochs * steps_per_epoch, settings.epochs * steps_per_epoch
    )
    scaler = torch.amp.GradScaler("cuda", enabled=settings.amp)
    best_state = copy.deepcopy(model.state_dict())
    best_f1, best_epoch, stale = -1.0, 0, 0
    history: list[dict[str, float]] = []
    epoch = 0
    for epoch in range(1, settings.epochs + 1):
        train_loss = _train_one_epoch(model, train_loader, loss_fn, optimizer, scheduler, scaler, settings, device)
        val_pred = predict_logits(model, val_loader, device, settings.amp).argmax(1).numpy()
        val_f1 = macro_f1(val_labels, val_pred, num_classes)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_macro_f1": val_f1})
        progress(
            f"epoch {epoch}/{settings.epochs} loss {train_loss:.3f} val macro-F1 {val_f1:.3f}", epoch, settings.epochs
        )
        if val_f1 > best_f1:
            best_f1, best_epoch, stale = val_f1, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= settings.patience:
                break
    model.load_state_dict(best_state)
    return TrainResult(best_epoch, best_f1, epoch, history)


def _train_one_epoch(
    model: nn.Module,
    loader: DataLoader[Any],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    settings: TrainSettings,
    device: str,
) -> float:
    model.train()
    if settings.freeze_batchnorm:
        freeze_batchnorm_statistics(model)
    total, count = 0.0, 0
    optimizer.zero_grad(set_to_none=True)
    for step, (images, labels) in enumerate(loader, start=1):
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if device.startswith("cuda"):
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=settings.amp):
            loss = loss_fn(model(images), labels)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"training loss became {loss.item()} at step {step}; lower the learning rate")
        scaler.scale(loss / settings.grad_accumulation).backward()
        if step % settings.grad_accumulation == 0 or step == len(loader):
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
        total += loss.item() * len(labels)
        count += len(labels)
    return total / max(1, count)
