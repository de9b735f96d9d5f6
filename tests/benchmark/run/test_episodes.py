"""Runner-drawn evaluation episodes: leakage rules, determinism, recorded scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from asebench.api.imaging import load_image
from asebench.api.method import Capabilities, Method, Predictions
from asebench.api.registry import METHODS, register_method
from asebench.run.config import RunConfig
from asebench.run.episodes import sample_episodes
from asebench.run.runner import run
from asebench.run.splits import SplitConfig, make_split
from asebench.scoring.episodic import mean_with_ci

LABELS = np.array([0] * 40 + [1] * 20 + [2] * 12)


def split_of(seed: int = 0):
    return make_split(LABELS, SplitConfig(), seed)


@pytest.mark.parametrize("shots", [1, 3, 5])
def test_support_from_train_query_from_test_never_overlapping(shots: int) -> None:
    split = split_of()
    episodes, reason = sample_episodes(LABELS, split.train, split.test, shots, 4, 50, seed=7)
    assert reason is None and len(episodes) == 50
    train, test = set(split.train.tolist()), set(split.test.tolist())
    for episode in episodes:
        support, query = set(episode.support.tolist()), set(episode.query.tolist())
        assert support <= train and query <= test and not support & query
        assert np.bincount(LABELS[episode.support], minlength=3).tolist() == [shots] * 3
        counts = np.bincount(LABELS[episode.query], minlength=3)
        assert (counts == counts[0]).all() and counts[0] >= 1


def test_episodes_are_seeded() -> None:
    split = split_of()
    a, _ = sample_episodes(LABELS, split.train, split.test, 2, 3, 10, seed=1)
    b, _ = sample_episodes(LABELS, split.train, split.test, 2, 3, 10, seed=1)
    c, _ = sample_episodes(LABELS, split.train, split.test, 2, 3, 10, seed=2)
    assert all((x.support == y.support).all() and (x.query == y.query).all() for x, y in zip(a, b, strict=True))
    assert any((x.support != y.support).any() for x, y in zip(a, c, strict=True))


def test_too_few_training_samples_is_a_reason_not_a_crash() -> None:
    split = split_of()
    episodes, reason = sample_episodes(LABELS, split.train, split.test, 50, 3, 10, seed=0)
    assert episodes == [] and reason is not None and "50-shot" in reason


def test_mean_with_ci() -> None:
    summary = mean_with_ci([0.5, 0.7, 0.6, 0.6])
    assert summary["mean"] == pytest.approx(0.6)
    assert summary["ci95"] == pytest.approx(1.96 * np.std([0.5, 0.7, 0.6, 0.6], ddof=1) / 2)


class _NearestCentroid(Method):
    """Toy episodic method: nearest class mean of raw pixels; logs the ids it saw."""

    family = "test-episodic"
    capabilities = Capabilities(needs_training=True, episodic=True)
    seen_in_fit: ClassVar[list[str]] = []

    @staticmethod
    def _x(split: Any) -> np.ndarray:
        return np.stack([np.asarray(load_image(s), dtype=np.float32).ravel() for s in split.samples])

    def fit(self, train: Any, val: Any) -> None:
        type(self).seen_in_fit.extend(train.ids)
        self.means = np.stack([self._x(train)[train.labels == k].mean(0) for k in range(train.num_classes)])

    def predict(self, test: Any) -> Predictions:
        return Predictions.from_labels(((self._x(test)[:, None] - self.means[None]) ** 2).sum(-1).argmin(1))

    def predict_episode(self, support: Any, query: Any) -> Predictions:
        x = self._x(support)
        means = np.stack([x[support.labels == k].mean(0) for k in range(support.num_classes)])
        return Predictions.from_labels(((self._x(query)[:, None] - means[None]) ** 2).sum(-1).argmin(1))


@pytest.fixture()
def episodic_method() -> Any:
    register_method("toy-episodic-centroid")(_NearestCentroid)
    yield "toy-episodic-centroid"
    METHODS._entries.pop("toy-episodic-centroid", None)


def test_runner_records_episodic_scores_and_test_is_never_in_fit(
    tiny_folder_dataset: Any, tmp_path: Path, episodic_method: str
) -> None:
    root = tiny_folder_dataset()
    config = RunConfig(
        methods=[episodic_method],
        datasets=["folder"],
        tasks=["multiclass"],
        run_dir=tmp_path / "run",
        dataset_options={"folder": {"root": str(root)}},
        bootstrap={"samples": 10},
        episodes={"shots": [1, 2, 50], "queries": 2, "count": 5},
    )
    outcome = run(config)
    [record] = outcome.records
    assert record["status"] == "ok", record.get("error")
    episodic = record["episodic"]
    assert episodic["1"]["episodes"] == 5 and episodic["2"]["queries_per_class"] >= 1
    assert "unavailable" in episodic["50"]
    test_ids = set(record["predictions"]["ids"])
    assert not test_ids & set(_NearestCentroid.seen_in_fit)
    stored = np.load(tmp_path / "run" / "cells" / episodic["1"]["artifact"])
    assert stored.shape[:2] == (5, 2)
    recomputed = np.mean([np.mean(episode[0] == episode[1]) for episode in stored])
    assert recomputed == pytest.approx(episodic["1"]["accuracy"]["mean"])
