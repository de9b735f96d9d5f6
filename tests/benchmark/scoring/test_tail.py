"""Tail analysis: head/medium/tail buckets and the worst classes."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from asebench.run.splits import SplitConfig, make_split
from asebench.scoring.tail import BUCKETS, TailConfig, bucket_classes, tail_report

ASE_COUNTS = {"normal": 225, "type1": 92, "type2": 44, "type3": 50, "type4": 44}


def per_class(names, f1s):
    return [{"name": n, "f1": f, "precision": f, "recall": f, "support": 1} for n, f in zip(names, f1s, strict=True)]


# -- buckets ----------------------------------------------------------------------


def test_ase_full_counts_with_defaults():
    assert bucket_classes(list(ASE_COUNTS.values()), TailConfig()) == ["head", "medium", "tail", "tail", "tail"]


def test_ase_train_split_counts_with_defaults():
    # the real training counts of the default holdout split (~64% of every class)
    labels = np.repeat(np.arange(5), list(ASE_COUNTS.values()))
    split = make_split(labels, SplitConfig(), seed=0)
    train_counts = np.bincount(labels[split.train], minlength=5)
    assert np.allclose(train_counts / np.array(list(ASE_COUNTS.values())), 0.64, atol=0.03)
    assert bucket_classes(train_counts.tolist(), TailConfig()) == ["head", "medium", "tail", "tail", "tail"]


def test_ase_rounded_64_percent_counts():
    counts = [round(0.64 * c) for c in ASE_COUNTS.values()]  # 144, 59, 28, 32, 28
    assert bucket_classes(counts, TailConfig()) == ["head", "medium", "tail", "tail", "tail"]


def test_custom_thresholds():
    counts = [100, 60, 40, 20, 10]
    # ratios 1.0, 0.6, 0.4, 0.2, 0.1
    assert bucket_classes(counts, TailConfig(head_ratio=0.7, tail_ratio=0.15)) == [
        "head",
        "medium",
        "medium",
        "medium",
        "tail",
    ]
    assert bucket_classes(counts, TailConfig(head_ratio=0.3, tail_ratio=0.3)) == [
        "head",
        "head",
        "head",
        "tail",
        "tail",
    ]
    assert bucket_classes(counts, TailConfig(head_ratio=1.0, tail_ratio=1.0)) == ["head"] + ["tail"] * 4


def test_boundaries_are_head_inclusive_tail_exclusive():
    # ratio exactly head_ratio -> head; ratio exactly tail_ratio -> medium
    assert bucket_classes([100, 50, 25, 24], TailConfig()) == ["head", "head", "medium", "tail"]


def test_buckets_edge_cases():
    assert bucket_classes([], TailConfig()) == []
    assert bucket_classes([0, 0], TailConfig()) == ["tail", "tail"]
    assert bucket_classes([7], TailConfig()) == ["head"]


# -- TailConfig ---------------------------------------------------------------


def test_tail_config_defaults():
    config = TailConfig()
    assert (config.head_ratio, config.tail_ratio, config.worst_k) == (0.5, 0.25, 3)


def test_tail_config_rejects_tail_above_head():
    with pytest.raises(ValidationError, match="tail_ratio must not exceed head_ratio"):
        TailConfig(head_ratio=0.3, tail_ratio=0.4)


def test_tail_config_rejects_unknown_keys():
    with pytest.raises(ValidationError) as info:
        TailConfig(head_ratio=0.5, tail_ratoi=0.1)
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    assert info.value.errors()[0]["loc"] == ("tail_ratoi",)


@pytest.mark.parametrize("bad", [{"head_ratio": 0.0}, {"head_ratio": 1.5}, {"tail_ratio": -0.1}, {"worst_k": 0}])
def test_tail_config_rejects_out_of_range(bad):
    with pytest.raises(ValidationError):
        TailConfig(**bad)


def test_tail_config_is_frozen():
    with pytest.raises(ValidationError):
        TailConfig().worst_k = 5  # type: ignore[misc]


# -- tail_report -------------------------------------------------------------------


NAMES = ["normal", "type1", "type2", "type3", "type4"]
TRAIN = [144, 59, 28, 32, 28]
F1S = [0.9, 0.7, 0.2, 0.5, 0.4]
CONFUSION = [
    [40, 3, 1, 0, 1],
    [4, 12, 2, 0, 0],
    [1, 5, 2, 1, 0],  # type2 mostly confused with type1
    [0, 0, 1, 8, 1],
    [6, 0, 1, 1, 0],  # type4 mostly confused with normal; diagonal 0
]


def test_tail_report_bucket_macro_f1_hand_computed():
    report = tail_report(per_class(NAMES, F1S), CONFUSION, TRAIN, TailConfig())
    assert report["buckets"] == ["head", "medium", "tail", "tail", "tail"]
    assert report["bucket_macro_f1"]["head"] == pytest.approx(0.9)
    assert report["bucket_macro_f1"]["medium"] == pytest.approx(0.7)
    assert report["bucket_macro_f1"]["tail"] == pytest.approx((0.2 + 0.5 + 0.4) / 3)
    assert report["bucket_members"] == {"head": ["normal"], "medium": ["type1"], "tail": ["type2", "type3", "type4"]}
    assert report["thresholds"] == {"head_ratio": 0.5, "tail_ratio": 0.25, "worst_k": 3}
    assert set(report["bucket_macro_f1"]) == set(BUCKETS)


def test_tail_report_empty_bucket_is_none():
    report = tail_report(per_class(["a", "b"], [0.5, 0.7]), [[1, 0], [0, 1]], [10, 9], TailConfig())
    assert report["bucket_macro_f1"] == {"head": pytest.approx(0.6), "medium": None, "tail": None}
    assert report["bucket_members"]["tail"] == []


def test_tail_report_worst_classes_and_confusions():
    report = tail_report(per_class(NAMES, F1S), CONFUSION, TRAIN, TailConfig())
    worst = report["worst_classes"]
    assert [w["name"] for w in worst] == ["type2", "type4", "type3"]
    assert worst[0] == {
        "name": "type2",
        "f1": 0.2,
        "bucket": "tail",
        "train_count": 28,
        "most_confused_with": "type1",
        "confused_count": 5,
    }
    assert worst[1]["most_confused_with"] == "normal" and worst[1]["confused_count"] == 6
    # type3 row: ties between type2 and type4 (1 each): the first wins
    assert worst[2]["most_confused_with"] == "type2" and worst[2]["confused_count"] == 1


def test_tail_report_worst_k_and_stable_ties():
    report = tail_report(
        per_class(["a", "b", "c"], [0.5, 0.5, 0.9]),
        [[3, 0, 0], [0, 3, 0], [0, 0, 3]],
        [10, 10, 10],
        TailConfig(worst_k=2),
    )
    worst = report["worst_classes"]
    assert [w["name"] for w in worst] == ["a", "b"]  # stable order on equal F1
    # a perfectly separated class has no confusion partner
    assert worst[0]["most_confused_with"] is None and worst[0]["confused_count"] == 0


def test_tail_report_worst_k_larger_than_classes():
    report = tail_report(per_class(["a", "b"], [0.1, 0.2]), [[1, 1], [0, 1]], [5, 5], TailConfig(worst_k=10))
    assert [w["name"] for w in report["worst_classes"]] == ["a", "b"]
    assert report["worst_classes"][0]["most_confused_with"] == "b"
