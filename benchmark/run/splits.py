"""The split protocol: seeded, stratified, identical for every method.

Splits are drawn on the *multiclass* labels, so the binary task uses exactly the
same train/val/test samples as the multiclass task. Within each class the
samples are shuffled with ``numpy.random.default_rng(seed)`` and then cut, which
guarantees that every class appears in train, validation and test (the adapter
must give each class at least three samples; five for 5-fold CV).

* ``holdout``: ``test_fraction`` of each class is test; ``val_fraction`` of the
  rest is validation; the remainder is train (defaults 0.2 and 0.2, i.e.
  64/16/20).
* ``kfold``: each class's shuffled samples are dealt round-robin into ``k``
  folds; fold ``f`` is the test set of cell ``f``, and ``val_fraction`` of the
  remaining samples of each class is validation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from asebench.api.errors import DatasetError


class SplitConfig(BaseModel):
    """How samples are divided into train/val/test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["holdout", "kfold"] = "holdout"
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    folds: int = Field(5, ge=2)

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        if self.protocol == "holdout" and self.test_fraction + self.val_fraction * (1 - self.test_fraction) >= 1:
            raise ValueError("test_fraction and val_fraction leave no training samples")
        return self

    def fold_ids(self) -> list[int]:
        """Fold indices a run iterates over: ``[0]`` for holdout."""
        return list(range(self.folds)) if self.protocol == "kfold" else [0]


@dataclass(frozen=True)
class Split:
    """Index arrays into the dataset's sample list."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def digest(self, ids: list[str]) -> str:
        """Hash of the ids in each part, stored with every record to prove identical splits."""
        text = "|".join(",".join(sorted(ids[i] for i in part)) for part in (self.train, self.val, self.test))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_split(labels: np.ndarray, config: SplitConfig, seed: int, fold: int = 0) -> Split:
    """Split sample indices by ``config`` for ``seed`` (and ``fold`` under k-fold)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    per_part = 3 if config.val_fraction > 0 else 2
    minimum = max(config.folds, per_part) if config.protocol == "kfold" else per_part
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if len(members) < minimum:
            raise DatasetError(
                f"class index {cls} has {len(members)} sample(s); the {config.protocol} protocol "
                f"needs at least {minimum} per class so it appears in train and test"
            )
        members = rng.permutation(members)
        if config.protocol == "kfold":
            if not 0 <= fold < config.folds:
                raise ValueError(f"fold {fold} out of range for {config.folds} folds")
            in_test = (np.arange(len(members)) % config.folds) == fold
            cls_test, rest = members[in_test], members[~in_test]
        else:
            n_test = min(max(1, round(len(members) * config.test_fraction)), len(members) - minimum + 1)
            cls_test, rest = members[:n_test], members[n_test:]
        n_val = 0
        if config.val_fraction > 0:
            n_val = min(max(1, round(len(rest) * config.val_fraction)), len(rest) - 1)
        test.extend(cls_test.tolist())
        val.extend(rest[:n_val].tolist())
        train.extend(rest[n_val:].tolist())
    return Split(np.array(sorted(train)), np.array(sorted(val)), np.array(sorted(test)))
