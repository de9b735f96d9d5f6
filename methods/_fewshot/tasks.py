"""Meta-training tasks drawn with learn2learn's task tools, from the training split only.

A :class:`MetaTaskSampler` wraps the training inputs as a
``TensorDataset(inputs, labels, positions)`` in ``l2l.data.MetaDataset`` and
draws tasks through ``l2l.data.Taskset`` (0.2.0's name for the deprecated
``TaskDataset``) with ``NWays`` ->
``KShots(k = shots + queries)`` -> ``LoadData`` -> ``RemapLabels``. KShots
samples without replacement, so splitting each class's ``shots + queries``
samples into ``shots`` support and ``queries`` query can never put a sample
on both sides. The positions ride along with every sample, so each task's
support and query are known exactly (:attr:`MetaTaskSampler.history`) and the
tests check both rules: disjoint within a task, and only training samples.

learn2learn's transforms draw from Python's global ``random``; the sampler
keeps its own state (seeded from the run seed) and swaps it in only while it
samples, so tasks are repeatable and nothing else's randomness is disturbed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from asebench.methods._fewshot.sampling import TaskSizes


@dataclass(frozen=True)
class SampledTask:
    """One meta-training task; ``*_positions`` index the training split."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    support_positions: np.ndarray
    query_positions: np.ndarray


class MetaTaskSampler:
    """N-way (shots + queries)-per-class tasks over ``inputs``/``labels`` via learn2learn."""

    def __init__(
        self, inputs: torch.Tensor, labels: np.ndarray, sizes: TaskSizes, seed: int, shuffle_labels: bool = True
    ) -> None:
        from learn2learn.data import MetaDataset, Taskset
        from learn2learn.data.transforms import KShots, LoadData, NWays, RemapLabels

        labels = np.asarray(labels, dtype=np.int64)
        positions = torch.arange(len(labels))
        dataset = torch.utils.data.TensorDataset(inputs, torch.as_tensor(labels), positions)
        meta = MetaDataset(dataset, indices_to_labels={i: int(label) for i, label in enumerate(labels)})
        transforms = [
            NWays(meta, n=sizes.ways),
            KShots(meta, k=sizes.shots + sizes.queries, replacement=False),
            LoadData(meta),
            RemapLabels(meta, shuffle=shuffle_labels),
        ]
        self.sizes = sizes
        self.tasks = Taskset(meta, task_transforms=transforms, num_tasks=-1)
        self.history: list[tuple[np.ndarray, np.ndarray]] = []
        saved = random.getstate()
        random.seed(seed)
        self._state = random.getstate()
        random.setstate(saved)

    def sample(self) -> SampledTask:
        """Draw a task and split every class into support (first ``shots``) and query (the rest)."""
        saved = random.getstate()
        random.setstate(self._state)
        try:
            x, y, positions = self.tasks.sample()
        finally:
            self._state = random.getstate()
            random.setstate(saved)
        support = torch.zeros(len(y), dtype=torch.bool)
        for label in torch.unique(y):
            members = torch.nonzero(y == label).flatten()
            support[members[: self.sizes.shots]] = True
        task = SampledTask(
            x[support], y[support], x[~support], y[~support], positions[support].numpy(), positions[~support].numpy()
        )
        self.history.append((task.support_positions, task.query_positions))
        return task
