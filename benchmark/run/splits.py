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

The anomaly protocols (``official``, ``transfer``) are not drawn: they follow
the dataset's own split (sample metadata ``official_split``), one cell per
category (metadata ``category``), and the fold index of a cell is the position
of its category in sorted order (:func:`protocol_categories`):

* ``official``: train = the category's official training images, normal ones
  only (MVTec's are all normal; VisA's one-class CSV too); validation is empty
  (there is nothing to select on without defects, and carving it out of the
  test split would change the published test set); test = the category's
  official test images.
* ``transfer``: the method is fitted on another dataset (``train``, loaded in
  addition to the run's datasets, all of its categories) -- on its official
  test split with labels and masks (``fit_on: test``, as APRIL-GAN trains on
  MVTec's test set to score VisA) or its normal training images (``fit_on:
  train``) -- and scored on each category's official test split of the run's
  dataset (the target; ``test`` may name it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from asebench.api.data import Sample
from asebench.api.errors import DatasetError

ANOMALY_PROTOCOLS = ("official", "transfer")  # one cell per category, binary task, anomaly detectors only
TRANSFER_KEYS = ("train", "test", "fit_on")


class SplitConfig(BaseModel):
    """How samples are divided into train/val/test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["holdout", "kfold", "official", "transfer"] = "holdout"
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    folds: int = Field(5, ge=2)
    # transfer only: the dataset the method is fitted on (``name`` or ``name:ROOT``), the target's name
    # (optional: the run's one dataset), and which official split of the source it is fitted on
    train: str | None = None
    test: str | None = None
    fit_on: Literal["test", "train"] = "test"

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        if self.protocol == "holdout" and self.test_fraction + self.val_fraction * (1 - self.test_fraction) >= 1:
            raise ValueError("test_fraction and val_fraction leave no training samples")
        if self.protocol == "transfer" and not self.train:
            raise ValueError("the transfer protocol needs train: <dataset> (the dataset the method is fitted on)")
        if self.protocol != "transfer" and (self.train or self.test or self.fit_on != "test"):
            raise ValueError(f"train, test and fit_on belong to the transfer protocol (protocol is {self.protocol!r})")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The transfer keys only under ``transfer``: other configs dump (and hash) as before they existed."""
        data: dict[str, Any] = handler(self)
        if self.protocol != "transfer":
            for key in TRANSFER_KEYS:
                data.pop(key, None)
        return data

    @property
    def per_category(self) -> bool:
        """Whether cells are the dataset's categories (``official``, ``transfer``) rather than drawn folds."""
        return self.protocol in ANOMALY_PROTOCOLS

    def fold_ids(self) -> list[int]:
        """Fold indices a run iterates over: ``[0]`` for holdout (per-category protocols: see :func:`protocol_categories`)."""
        if self.per_category:
            raise ValueError(f"the {self.protocol} protocol has one fold per category of the dataset")
        return list(range(self.folds)) if self.protocol == "kfold" else [0]


@dataclass(frozen=True)
class Split:
    """Index arrays into the dataset's sample list."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    category: str | None = None  # official/transfer: the category whose test images this split scores
    source: str | None = None  # transfer: train and val index this dataset (the run's name), not the target

    def digest(self, ids: list[str], fit_ids: list[str] | None = None) -> str:
        """Hash of the ids in each part, stored with every record to prove identical splits.

        ``fit_ids`` are the ids of the dataset train and val index (transfer: the source's, named by it).
        """
        fit = ids if fit_ids is None else [f"{self.source}:{i}" for i in fit_ids]
        parts = ((fit, self.train), (fit, self.val), (ids, self.test))
        text = "|".join(",".join(sorted(names[i] for i in part)) for names, part in parts)
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


def protocol_categories(samples: Sequence[Sample], protocol: str, dataset: str) -> list[str]:
    """The categories of a dataset in sorted order: fold ``i`` of a per-category protocol is the ``i``-th."""
    missing = [s.id for s in samples if "category" not in s.metadata or "official_split" not in s.metadata]
    if missing:
        raise DatasetError(
            f"the {protocol} protocol needs every sample's metadata 'category' and 'official_split' "
            f"(the mvtec, visa and anomaly-synth adapters give them); dataset {dataset!r} lacks them "
            f"(e.g. sample {missing[0]!r})"
        )
    return sorted({str(s.metadata["category"]) for s in samples})


def official_indices(samples: Sequence[Sample], part: str, category: str | None = None) -> np.ndarray:
    """Indices of the samples in official split ``part`` (``train``/``test``), of ``category`` when given."""
    return np.array(
        [
            i
            for i, s in enumerate(samples)
            if s.metadata.get("official_split") == part and (category is None or s.metadata.get("category") == category)
        ],
        dtype=np.int64,
    )


def normal_only(samples: Sequence[Sample], indices: np.ndarray, normal_class: str | None) -> np.ndarray:
    """The indices whose sample is of the normal class."""
    return np.array([i for i in indices if samples[i].label == normal_class], dtype=np.int64)


def official_split(samples: Sequence[Sample], normal_class: str | None, category: str, dataset: str) -> Split:
    """Train = the category's normal official-train images, no validation, test = its official-test images."""
    train = normal_only(samples, official_indices(samples, "train", category), normal_class)
    test = official_indices(samples, "test", category)
    for name, part in (("normal official-train", train), ("official-test", test)):
        if not len(part):
            raise DatasetError(f"dataset {dataset!r}, category {category!r}: no {name} images")
    return Split(train, np.zeros(0, dtype=np.int64), test, category=category)


def transfer_split(
    source_samples: Sequence[Sample],
    source_normal: str | None,
    target_samples: Sequence[Sample],
    category: str,
    config: SplitConfig,
    names: tuple[str, str],
) -> Split:
    """Train = the source's official ``fit_on`` split (all categories; normal only for ``train``), test = the target's.

    ``names`` are (source, target). Train indexes the source's samples, test the target's.
    """
    source, target = names
    train = official_indices(source_samples, config.fit_on)
    if config.fit_on == "train":
        train = normal_only(source_samples, train, source_normal)
    test = official_indices(target_samples, "test", category)
    if not len(train):
        raise DatasetError(f"transfer: dataset {source!r} has no official {config.fit_on} images to fit on")
    if not len(test):
        raise DatasetError(f"transfer: dataset {target!r}, category {category!r}: no official-test images")
    return Split(train, np.zeros(0, dtype=np.int64), test, category=category, source=source)
