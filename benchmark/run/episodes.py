"""Seeded evaluation episodes for few-shot methods, drawn by the runner.

The runner, not the method, samples evaluation episodes, so every episodic
method is scored on the same episodes and leakage is ruled out by
construction:

* the **support** set takes K samples per class from the *training* split;
* the **query** set takes Q samples per class from the *test* split
  (Q = ``queries``, capped by the smallest test class);
* support and query therefore never share a sample id, and no test sample is
  ever seen during meta-training (methods only get the training split in
  ``fit``).

Episodes are drawn with ``numpy.random.default_rng([episode_seed, K])`` where
``episode_seed`` is the run seed's derived episode seed, so they are identical
across methods and repeatable. When a class has fewer than K training samples
the K is reported as unavailable with the reason, never crashed on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class EpisodeConfig(BaseModel):
    """How many episodes, shots and queries the episodic evaluation uses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shots: list[int] = Field(default_factory=lambda: [1, 5, 10])
    queries: int = Field(15, ge=1)
    count: int = Field(600, ge=1)


@dataclass(frozen=True)
class Episode:
    """Index arrays into the dataset's sample list."""

    support: np.ndarray
    query: np.ndarray


def sample_episodes(
    labels: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    shots: int,
    queries: int,
    count: int,
    seed: int,
) -> tuple[list[Episode], str | None]:
    """``count`` episodes with ``shots`` support (train) and up to ``queries`` query (test) per class.

    Returns ``([], reason)`` when some class has fewer than ``shots`` training samples.
    """
    classes = np.unique(labels[train])
    train_by_class = {c: train[labels[train] == c] for c in classes}
    test_by_class = {c: test[labels[test] == c] for c in classes}
    short = {int(c): len(idx) for c, idx in train_by_class.items() if len(idx) < shots}
    if short:
        detail = ", ".join(f"class {c}: {n}" for c, n in short.items())
        return [], f"{shots}-shot needs {shots} training samples per class ({detail})"
    per_class_queries = min([queries, *(len(idx) for idx in test_by_class.values())])
    if per_class_queries < 1:
        return [], "a class has no test samples"
    rng = np.random.default_rng([seed, shots])
    episodes = []
    for _ in range(count):
        support = np.concatenate([rng.choice(train_by_class[c], shots, replace=False) for c in classes])
        query = np.concatenate([rng.choice(test_by_class[c], per_class_queries, replace=False) for c in classes])
        episodes.append(Episode(support, query))
    return episodes, None
