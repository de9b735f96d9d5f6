"""The split protocol: stratified, disjoint, deterministic, every class everywhere."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from pydantic import ValidationError

from asebench.api.errors import ConfigError, DatasetError
from asebench.run.config import build_config
from asebench.run.splits import Split, SplitConfig, make_split

ASE = np.repeat(np.arange(5), [225, 92, 44, 50, 44])


def parts(split: Split) -> list[np.ndarray]:
    return [split.train, split.val, split.test]


def assert_partition(split: Split, n: int) -> None:
    everything = np.concatenate(parts(split))
    assert len(everything) == n
    assert sorted(everything.tolist()) == list(range(n))
    assert not set(split.train) & set(split.val)
    assert not set(split.train) & set(split.test)
    assert not set(split.val) & set(split.test)
    for part in parts(split):
        assert part.tolist() == sorted(part.tolist())


# -- holdout ------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_holdout_is_a_disjoint_cover(seed):
    split = make_split(ASE, SplitConfig(), seed)
    assert_partition(split, len(ASE))


@pytest.mark.parametrize("seed", [0, 3])
def test_holdout_is_stratified(seed):
    split = make_split(ASE, SplitConfig(), seed)
    totals = np.bincount(ASE)
    for part, share in ((split.test, 0.2), (split.val, 0.16), (split.train, 0.64)):
        counts = np.bincount(ASE[part], minlength=5)
        assert np.all(counts > 0)
        # per class within one sample of the ideal share (rounding per class)
        assert np.all(np.abs(counts - totals * share) <= 1.5), (counts, totals * share)


def test_holdout_exact_counts_for_one_class():
    labels = np.zeros(100, dtype=np.int64)
    split = make_split(labels, SplitConfig(test_fraction=0.2, val_fraction=0.25), 0)
    assert (len(split.train), len(split.val), len(split.test)) == (60, 20, 20)


def test_every_class_in_every_part_even_tiny_classes():
    labels = np.array([0] * 50 + [1] * 3 + [2] * 4)
    for seed in range(10):
        split = make_split(labels, SplitConfig(), seed)
        for part in parts(split):
            assert set(labels[part]) == {0, 1, 2}
        assert_partition(split, len(labels))


def test_without_validation_two_samples_per_class_suffice():
    labels = np.array([0, 0, 1, 1, 1])
    split = make_split(labels, SplitConfig(val_fraction=0.0), 0)
    assert len(split.val) == 0
    assert set(labels[split.train]) == set(labels[split.test]) == {0, 1}
    assert_partition(split, 5)


def test_holdout_deterministic_for_a_seed():
    a = make_split(ASE, SplitConfig(), 42)
    b = make_split(ASE.copy(), SplitConfig(), 42)
    for x, y in zip(parts(a), parts(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_holdout_differs_for_another_seed():
    a = make_split(ASE, SplitConfig(), 0)
    b = make_split(ASE, SplitConfig(), 1)
    assert a.test.tolist() != b.test.tolist()
    assert len(a.test) == len(b.test)  # sizes depend only on the counts


def test_split_does_not_depend_on_label_values_order():
    # labels as strings work too (np.unique order)
    labels = np.array(["b", "a", "b", "a", "b", "a", "c", "c", "c"])
    split = make_split(labels, SplitConfig(), 0)
    assert_partition(split, len(labels))
    for part in parts(split):
        assert set(labels[part]) == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("counts", "config"),
    [
        ([10, 2], SplitConfig()),
        ([10, 1], SplitConfig(val_fraction=0.0)),
        ([10, 4], SplitConfig(protocol="kfold", folds=5)),
    ],
)
def test_too_few_samples_in_a_class_is_dataset_error(counts, config):
    labels = np.repeat(np.arange(len(counts)), counts)
    with pytest.raises(DatasetError, match=r"class index 1 has \d sample"):
        make_split(labels, config, 0)


# -- k-fold -------------------------------------------------------------------


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_kfold_each_sample_in_exactly_one_test_fold(folds):
    config = SplitConfig(protocol="kfold", folds=folds)
    labels = np.repeat(np.arange(4), [40, 17, 9, 6])
    seen = np.zeros(len(labels), dtype=int)
    for fold in config.fold_ids():
        split = make_split(labels, config, 3, fold)
        assert_partition(split, len(labels))
        seen[split.test] += 1
        for part in parts(split):
            assert set(labels[part]) == {0, 1, 2, 3}
    assert np.all(seen == 1)


def test_kfold_test_folds_are_stratified_and_balanced():
    config = SplitConfig(protocol="kfold", folds=5)
    sizes = []
    for fold in range(5):
        split = make_split(ASE, config, 0, fold)
        counts = np.bincount(ASE[split.test], minlength=5)
        assert np.all(np.abs(counts - np.bincount(ASE) / 5) <= 1)
        sizes.append(len(split.test))
    assert max(sizes) - min(sizes) <= 5


def test_kfold_is_deterministic_and_seed_dependent():
    config = SplitConfig(protocol="kfold", folds=5)
    a = make_split(ASE, config, 0, 2)
    b = make_split(ASE, config, 0, 2)
    c = make_split(ASE, config, 1, 2)
    np.testing.assert_array_equal(a.test, b.test)
    assert a.test.tolist() != c.test.tolist()


def test_kfold_fold_out_of_range():
    config = SplitConfig(protocol="kfold", folds=3)
    with pytest.raises(ValueError, match="fold 3 out of range"):
        make_split(ASE, config, 0, 3)


def test_kfold_two_folds_two_samples_keeps_class_in_val_or_errors():
    labels = np.array([0, 0, 1, 1, 1, 1, 1, 1])
    config = SplitConfig(protocol="kfold", folds=2)
    try:
        split = make_split(labels, config, 0, 0)
    except DatasetError:
        return  # refusing the tiny class is the correct outcome too
    assert set(labels[split.val]) == {0, 1}


def test_fold_ids():
    assert SplitConfig().fold_ids() == [0]
    assert SplitConfig(protocol="kfold", folds=4).fold_ids() == [0, 1, 2, 3]


# -- Split.digest -------------------------------------------------------------


def test_digest_is_stable_and_sensitive():
    ids = [f"img{i:03d}" for i in range(len(ASE))]
    a = make_split(ASE, SplitConfig(), 0)
    b = make_split(ASE, SplitConfig(), 0)
    c = make_split(ASE, SplitConfig(), 1)
    assert a.digest(ids) == b.digest(ids)
    assert len(a.digest(ids)) == 16 and all(ch in "0123456789abcdef" for ch in a.digest(ids))
    assert a.digest(ids) != c.digest(ids)
    renamed = [*ids[:-1], "other"]
    assert a.digest(ids) != a.digest(renamed)


def test_digest_depends_on_part_not_index_order():
    ids = ["a", "b", "c", "d", "e", "f"]
    s1 = Split(np.array([0, 1]), np.array([2, 3]), np.array([4, 5]))
    s2 = Split(np.array([1, 0]), np.array([3, 2]), np.array([5, 4]))
    s3 = Split(np.array([2, 3]), np.array([0, 1]), np.array([4, 5]))
    assert s1.digest(ids) == s2.digest(ids)
    assert s1.digest(ids) != s3.digest(ids)
    assert s1.digest(ids) == hashlib.sha256(b"a,b|c,d|e,f").hexdigest()[:16]


# -- SplitConfig validation --------------------------------------------------------


def test_split_config_defaults():
    config = SplitConfig()
    assert (config.protocol, config.test_fraction, config.val_fraction, config.folds) == ("holdout", 0.2, 0.2, 5)


@pytest.mark.parametrize(
    "bad",
    [
        {"test_fraction": 1.0},
        {"test_fraction": 0.0},
        {"val_fraction": 1.0},
        {"val_fraction": -0.1},
        {"folds": 1},
        {"protocol": "loo"},
        {"fold": 3},
    ],
)
def test_split_config_rejects(bad):
    with pytest.raises(ValidationError):
        SplitConfig(**bad)


def test_split_config_rejects_fractions_leaving_no_training_data():
    # 1 - (1 - test)(1 - val) rounds to 1.0 in floating point: nothing is left to train on
    with pytest.raises(ValidationError, match="leave no training samples"):
        SplitConfig(test_fraction=0.9999999999999999, val_fraction=0.9999999999999999)


def test_split_config_extreme_but_valid_fractions_still_train():
    config = SplitConfig(test_fraction=0.9, val_fraction=0.9)
    labels = np.repeat([0, 1], 10)
    split = make_split(labels, config, 0)
    assert set(labels[split.train]) == {0, 1}
    assert_partition(split, 20)


def test_split_errors_through_build_config_name_the_key():
    with pytest.raises(ConfigError, match=r"split\.test_fraction"):
        build_config({"split": {"test_fraction": 1.5}})
    with pytest.raises(ConfigError, match=r"unknown key 'split\.fold'"):
        build_config({"split": {"fold": 3}})
