"""Tail analysis: how a method does on the rare classes.

Classes are bucketed by their count in the *training* split relative to the
largest class: ``head`` when count >= ``head_ratio`` x max, ``tail`` when
count < ``tail_ratio`` x max, ``medium`` otherwise. With the ASE counts
(225/92/44/50/44) and the defaults 0.5/0.25 this gives normal = head,
type1 = medium and type2..type4 = tail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

BUCKETS = ("head", "medium", "tail")


class TailConfig(BaseModel):
    """Thresholds for the head/medium/tail buckets and how many worst classes to list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    head_ratio: float = Field(0.5, gt=0.0, le=1.0)
    tail_ratio: float = Field(0.25, gt=0.0, le=1.0)
    worst_k: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> TailConfig:
        if self.tail_ratio > self.head_ratio:
            raise ValueError("tail_ratio must not exceed head_ratio")
        return self


def bucket_classes(train_counts: Sequence[int], config: TailConfig) -> list[str]:
    """Bucket name of every class from its training count."""
    counts = np.asarray(train_counts, dtype=float)
    largest = counts.max() if len(counts) else 0.0
    buckets = []
    for count in counts:
        ratio = count / largest if largest > 0 else 0.0
        buckets.append("head" if ratio >= config.head_ratio else "tail" if ratio < config.tail_ratio else "medium")
    return buckets


def tail_report(
    per_class: Sequence[dict[str, Any]],
    confusion: Sequence[Sequence[int]],
    train_counts: Sequence[int],
    config: TailConfig,
) -> dict[str, Any]:
    """Macro-F1 per bucket and the worst classes with their most confused partner."""
    buckets = bucket_classes(train_counts, config)
    f1 = np.array([row["f1"] for row in per_class], dtype=float)
    by_bucket: dict[str, float | None] = {}
    members: dict[str, list[str]] = {}
    for bucket in BUCKETS:
        chosen = [i for i, b in enumerate(buckets) if b == bucket]
        members[bucket] = [per_class[i]["name"] for i in chosen]
        by_bucket[bucket] = float(f1[chosen].mean()) if chosen else None
    matrix = np.asarray(confusion, dtype=np.int64)
    worst = []
    for i in np.argsort(f1, kind="stable")[: config.worst_k]:
        row = matrix[i].copy()
        row[i] = 0
        partner = per_class[int(row.argmax())]["name"] if row.sum() > 0 else None
        worst.append(
            {
                "name": per_class[i]["name"],
                "f1": float(f1[i]),
                "bucket": buckets[i],
                "train_count": int(train_counts[i]),
                "most_confused_with": partner,
                "confused_count": int(row.max()) if row.sum() > 0 else 0,
            }
        )
    return {
        "buckets": buckets,
        "bucket_macro_f1": by_bucket,
        "bucket_members": members,
        "worst_classes": worst,
        "thresholds": config.model_dump(),
    }
