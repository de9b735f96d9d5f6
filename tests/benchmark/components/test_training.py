"""The fine-tuning recipe's parts: parameter groups, frozen BatchNorm statistics, the zero-initialised head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from asebench.components.training import (
    TrainSettings,
    freeze_batchnorm_statistics,
    parameter_groups,
    train_classifier,
)


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )


def settings(**changes: object) -> TrainSettings:
    values: dict[str, object] = {
        "epochs": 2,
        "lr": 1e-2,
        "weight_decay": 0.0,
        "warmup_epochs": 0,
        "patience": 5,
        "loss": "ce",
        "focal_gamma": 2.0,
        "grad_accumulation": 1,
        "amp": False,
    }
    values.update(changes)
    return TrainSettings(**values)  # type: ignore[arg-type]


def loaders() -> tuple[DataLoader[tuple[torch.Tensor, ...]], DataLoader[tuple[torch.Tensor, ...]], np.ndarray]:
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(16, 3, 8, 8, generator=generator)
    labels = torch.arange(16) % 2
    images[labels == 1] += 1.0
    data = TensorDataset(images, labels)
    return DataLoader(data, batch_size=8), DataLoader(data, batch_size=8), labels.numpy()


def test_the_backbone_learns_at_the_scaled_rate_and_the_head_at_the_base_rate() -> None:
    model = small_net()
    head = model[-1]
    groups = parameter_groups(model, head, lr=1e-3, backbone_scale=0.1)
    assert [group["lr"] for group in groups] == [pytest.approx(1e-4), 1e-3]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in head.parameters()}
    counted = sum(len(group["params"]) for group in groups)
    assert counted == len(list(model.parameters()))


def test_without_a_head_or_scale_all_parameters_share_one_rate() -> None:
    model = small_net()
    for head, scale in ((None, 0.1), (model[-1], 1.0)):
        groups = parameter_groups(model, head, lr=1e-3, backbone_scale=scale)
        assert len(groups) == 1 and groups[0]["lr"] == 1e-3
        assert len(groups[0]["params"]) == len(list(model.parameters()))


def test_frozen_batchnorm_keeps_its_statistics_while_its_weights_train() -> None:
    model = small_net()
    batchnorm = model[1]
    mean_before = batchnorm.running_mean.clone()
    weight_before = batchnorm.weight.detach().clone()
    train, val, val_labels = loaders()
    train_classifier(
        model, train, val, val_labels, np.array([8, 8]), settings(freeze_batchnorm=True), "cpu", lambda *a: None
    )
    assert torch.equal(batchnorm.running_mean, mean_before)
    assert not torch.equal(batchnorm.weight.detach(), weight_before)


def test_batchnorm_in_training_mode_updates_its_statistics() -> None:
    model = small_net()
    mean_before = model[1].running_mean.clone()
    train, val, val_labels = loaders()
    train_classifier(model, train, val, val_labels, np.array([8, 8]), settings(), "cpu", lambda *a: None)
    assert not torch.equal(model[1].running_mean, mean_before)


def test_freezing_leaves_other_layers_in_training_mode() -> None:
    model = small_net().train()
    freeze_batchnorm_statistics(model)
    assert not model[1].training
    assert all(layer.training for index, layer in enumerate(model) if index != 1)
