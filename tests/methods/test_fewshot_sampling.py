"""Few-shot sampling hygiene: K-shot supports, meta-task sizes, and learn2learn task sampling."""

from __future__ import annotations

import importlib.util
import random

import numpy as np
import pytest

from asebench.methods._fewshot.options import L2L_MISSING
from asebench.methods._fewshot.sampling import meta_task_sizes, method_rng, python_seed, select_shots

needs_l2l = pytest.mark.skipif(importlib.util.find_spec("learn2learn") is None, reason=L2L_MISSING)
CLASSES = ("normal", "type1", "type2")


# -- K-shot support for the full test set --------------------------------------------------


def test_select_shots_takes_k_per_class_from_the_given_labels_only() -> None:
    labels = np.array([0] * 10 + [1] * 7 + [2] * 6)
    selection = select_shots(labels, CLASSES, 5, method_rng(0, "x"))
    assert np.bincount(labels[selection.indices], minlength=3).tolist() == [5, 5, 5]
    assert len(set(selection.indices.tolist())) == 15
    assert selection.short == {} and "reduced" not in selection.report()


def test_select_shots_is_seeded() -> None:
    labels = np.array([0] * 30 + [1] * 30)
    a = select_shots(labels, CLASSES[:2], 3, method_rng(0, "full-test-support")).indices
    b = select_shots(labels, CLASSES[:2], 3, method_rng(0, "full-test-support")).indices
    c = select_shots(labels, CLASSES[:2], 3, method_rng(1, "full-test-support")).indices
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()


def test_select_shots_reports_a_short_class_instead_of_crashing() -> None:
    labels = np.array([0] * 10 + [1] * 2 + [2] * 6)
    selection = select_shots(labels, CLASSES, 5, method_rng(0, "x"))
    assert selection.per_class == {"normal": 5, "type1": 2, "type2": 5}
    assert selection.short == {"type1": 2}
    assert "only 2 training samples" in selection.report()["reduced"]["type1"]


def test_select_shots_all_and_missing_class() -> None:
    labels = np.array([0] * 4 + [1] * 3 + [2] * 2)
    assert len(select_shots(labels, CLASSES, "all", method_rng(0, "x")).indices) == 9
    with pytest.raises(ValueError, match="'type2' has no training samples"):
        select_shots(np.array([0, 0, 1]), CLASSES, 1, method_rng(0, "x"))


# -- meta-training task sizes ---------------------------------------------------------------


def test_meta_task_sizes_kept_when_they_fit() -> None:
    sizes = meta_task_sizes([20, 15, 10], CLASSES, None, 5, 5)
    assert (sizes.ways, sizes.shots, sizes.queries, sizes.note) == (3, 5, 5, None)


def test_meta_task_sizes_reduced_and_said_so() -> None:
    sizes = meta_task_sizes([20, 4, 10], CLASSES, None, 5, 5)
    assert (sizes.shots, sizes.queries) == (3, 1)
    assert "type1" in sizes.report(5, 5)["reduced"] and "only 4" in sizes.report(5, 5)["reduced"]
    assert meta_task_sizes([20, 7, 10], CLASSES, None, 5, 5).queries == 2


def test_meta_task_sizes_refuse_a_class_without_a_query() -> None:
    with pytest.raises(ValueError, match="'type2' has 1 training sample"):
        meta_task_sizes([20, 7, 1], CLASSES, None, 5, 5)
    with pytest.raises(ValueError, match="ways=4"):
        meta_task_sizes([20, 7, 9], CLASSES, 4, 5, 5)


# -- learn2learn task sampling --------------------------------------------------------------


def _sampler(labels: np.ndarray, ways: int | None, shots: int, queries: int, seed: int = 3):
    import torch

    from asebench.methods._fewshot.l2l import import_learn2learn
    from asebench.methods._fewshot.tasks import MetaTaskSampler

    import_learn2learn()
    counts = np.bincount(labels)
    sizes = meta_task_sizes(counts, [f"c{k}" for k in range(len(counts))], ways, shots, queries)
    inputs = torch.arange(len(labels), dtype=torch.float32)[:, None].repeat(1, 4)  # row i holds i
    return MetaTaskSampler(inputs, labels, sizes, seed), sizes


@needs_l2l
@pytest.mark.parametrize(("ways", "shots", "queries"), [(None, 5, 5), (2, 1, 3), (None, 8, 3)])
def test_meta_tasks_never_share_a_sample_between_support_and_query(ways: int | None, shots: int, queries: int) -> None:
    labels = np.array([0] * 12 + [1] * 10 + [2] * 9 + [3] * 11)
    sampler, sizes = _sampler(labels, ways, shots, queries)
    for _ in range(200):
        task = sampler.sample()
        support, query = set(task.support_positions.tolist()), set(task.query_positions.tolist())
        assert not support & query
        assert len(support) == sizes.ways * sizes.shots and len(query) == sizes.ways * sizes.queries
        # inputs, labels and positions travel together through LoadData/RemapLabels
        assert task.support_x[:, 0].long().tolist() == task.support_positions.tolist()
        classes = {int(labels[p]) for p in support}
        assert classes == {int(labels[p]) for p in query} and len(classes) == sizes.ways
        for original in classes:  # one remapped label per original class, on both sides
            remapped = {
                int(y) for y, p in zip(task.support_y, task.support_positions, strict=True) if labels[p] == original
            }
            assert len(remapped) == 1
            assert {
                int(y) for y, p in zip(task.query_y, task.query_positions, strict=True) if labels[p] == original
            } == remapped
    assert len(sampler.history) == 200


@needs_l2l
def test_meta_tasks_are_seeded_and_leave_global_random_alone() -> None:
    labels = np.array([0] * 12 + [1] * 10 + [2] * 9)
    random.seed(123)
    expected_next = random.random()
    random.seed(123)
    a, _ = _sampler(labels, None, 2, 2, seed=5)
    b, _ = _sampler(labels, None, 2, 2, seed=5)
    c, _ = _sampler(labels, None, 2, 2, seed=6)
    first = [a.sample().support_positions.tolist() for _ in range(5)]
    assert first == [b.sample().support_positions.tolist() for _ in range(5)]
    assert first != [c.sample().support_positions.tolist() for _ in range(5)]
    assert random.random() == expected_next


def test_python_seed_is_derived_from_the_run_seed() -> None:
    assert python_seed(0, "meta-tasks") == python_seed(0, "meta-tasks") != python_seed(1, "meta-tasks")
