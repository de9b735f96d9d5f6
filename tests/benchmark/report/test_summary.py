"""Aggregating cell records into summary rows and tables (no model runs)."""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
import subprocess
import sys

import pytest

from asebench.report.summary import (
    PER_CLASS_COLUMNS,
    SUMMARY_COLUMNS,
    per_class_rows,
    summary_rows,
    summary_table,
    summary_title,
)
from asebench.report.tables import markdown_table, to_csv


def main_table(rows):
    """The summary table as (header, lines of cell texts)."""
    table = summary_table(rows)
    return [c.name for c in table.columns], [[cell.text + cell.mark for cell in row] for row in table.rows]


CLASSES = ["normal", "type1", "type2"]

# -- helpers -------------------------------------------------------------------


def ok_record(
    method="majority",
    dataset="ase-synth",
    task="multiclass",
    seed=0,
    fold=0,
    macro=0.5,
    f1s=(0.9, 0.4, 0.2),
    partner="normal",
    family="baseline",
    low=None,
    high=None,
    buckets=("head", "medium", "tail"),
    confused=3,
):
    names = CLASSES if task == "multiclass" else ["normal", "defect"]
    f1s = list(f1s)[: len(names)]
    buckets = list(buckets)[: len(names)]
    per_class = [
        {"name": n, "precision": f, "recall": f, "f1": f, "support": 10 + i, "train_count": 100 - 10 * i}
        for i, (n, f) in enumerate(zip(names, f1s, strict=True))
    ]
    worst_index = min(range(len(names)), key=lambda i: f1s[i])
    confusion = [[10 + i if j == i else 0 for j in range(len(names))] for i in range(len(names))]
    if partner is not None and partner != names[worst_index]:
        confusion[worst_index][names.index(partner)] += confused
    bucket_f1 = {
        b: (statistics.fmean([f for f, bb in zip(f1s, buckets, strict=True) if bb == b]) if b in buckets else None)
        for b in ("head", "medium", "tail")
    }
    return {
        "schema_version": 1,
        "cell": {"method": method, "dataset": dataset, "task": task, "seed": seed, "fold": fold, "config_hash": "h"},
        "status": "ok",
        "error": None,
        "skip_reason": None,
        "method": {"name": method, "family": family},
        "metrics": {
            "macro_f1": macro,
            "accuracy": macro + 0.1,
            "balanced_accuracy": macro + 0.05,
            "bootstrap": {"low": macro - 0.1 if low is None else low, "high": macro + 0.1 if high is None else high},
            "per_class": per_class,
            "confusion_matrix": confusion,
        },
        "split": {"train_counts": [row["train_count"] for row in per_class]},
        "dataset": {"class_names": names},
        "tail": {
            "buckets": buckets,
            "bucket_macro_f1": bucket_f1,
            "worst_classes": [{"name": names[worst_index], "f1": f1s[worst_index], "most_confused_with": partner}],
        },
    }


def bad_record(status, method="cnn", dataset="ase-synth", task="multiclass", seed=0, message="CUDA out of memory"):
    return {
        "schema_version": 1,
        "cell": {"method": method, "dataset": dataset, "task": task, "seed": seed, "fold": 0, "config_hash": "h"},
        "status": status,
        "error": {"type": "RuntimeError", "message": message} if status == "failed" else None,
        "skip_reason": "weights not found" if status == "skipped" else None,
        "method": {"name": method, "family": "cnn"},
    }


# -- summary_rows ----------------------------------------------------------------


def test_mean_and_std_over_seeds():
    records = [ok_record(seed=s, macro=m) for s, m in enumerate([0.5, 0.7, 0.9])]
    (row,) = summary_rows(records)
    assert set(row) == set(SUMMARY_COLUMNS)
    assert (row["dataset"], row["task"], row["method"], row["family"]) == (
        "ase-synth",
        "multiclass",
        "majority",
        "baseline",
    )
    assert row["status"] == "ok" and row["cells"] == 3
    assert row["macro_f1_mean"] == pytest.approx(0.7)
    assert row["macro_f1_std"] == pytest.approx(statistics.stdev([0.5, 0.7, 0.9]))  # sample std
    assert row["macro_f1_std"] == pytest.approx(0.2)
    assert row["ci_low_mean"] == pytest.approx(0.6) and row["ci_high_mean"] == pytest.approx(0.8)
    assert row["accuracy_mean"] == pytest.approx(0.8)
    assert row["balanced_accuracy_mean"] == pytest.approx(0.75)
    assert row["head_f1_mean"] == pytest.approx(0.9)
    assert row["medium_f1_mean"] == pytest.approx(0.4)
    assert row["tail_f1_mean"] == pytest.approx(0.2)
    assert row["worst_class"] == "type2 (0.20) -> normal"
    assert row["note"] is None


def test_single_seed_std_is_zero():
    (row,) = summary_rows([ok_record(macro=0.42)])
    assert row["macro_f1_mean"] == pytest.approx(0.42) and row["macro_f1_std"] == 0.0


def test_rows_grouped_per_dataset_task_method_in_first_seen_order():
    records = [
        ok_record(method="b", seed=0),
        ok_record(method="a", seed=0),
        ok_record(method="b", seed=1),
        ok_record(method="a", task="binary"),
        ok_record(method="a", dataset="neu-det"),
    ]
    rows = summary_rows(records)
    assert [(r["dataset"], r["task"], r["method"], r["cells"]) for r in rows] == [
        ("ase-synth", "multiclass", "b", 2),
        ("ase-synth", "multiclass", "a", 1),
        ("ase-synth", "binary", "a", 1),
        ("neu-det", "multiclass", "a", 1),
    ]


def test_empty_bucket_mean_is_none():
    (row,) = summary_rows([ok_record(buckets=("head", "head", "tail"))])
    assert row["medium_f1_mean"] is None
    assert row["head_f1_mean"] == pytest.approx(0.65)


def test_failed_rows_carry_the_error_message():
    rows = summary_rows([bad_record("failed", seed=0), bad_record("failed", seed=1, message="other")])
    (row,) = rows
    assert row["status"] == "failed" and row["cells"] == 0
    assert row["note"] == "CUDA out of memory"
    assert row["macro_f1_mean"] is None and row["worst_class"] is None
    assert row["family"] == "cnn"


def test_skipped_rows_carry_the_reason():
    (row,) = summary_rows([bad_record("skipped", seed=0), bad_record("skipped", seed=1)])
    assert row["status"] == "skipped" and row["note"] == "weights not found" and row["cells"] == 0


def test_failed_and_skipped_mix_counts_as_failed():
    (row,) = summary_rows([bad_record("skipped"), bad_record("failed", seed=1)])
    assert row["status"] == "failed" and row["note"] == "CUDA out of memory"


def test_partial_failures_keep_the_numbers():
    records = [
        ok_record(method="cnn", seed=0, macro=0.6),
        bad_record("failed", seed=1),
        ok_record(method="cnn", seed=2, macro=0.8),
    ]
    (row,) = summary_rows(records)
    assert row["status"] == "ok (1 failed)"
    assert row["cells"] == 2
    assert row["macro_f1_mean"] == pytest.approx(0.7)
    assert row["note"] == "CUDA out of memory"


def test_worst_class_uses_mean_f1_and_the_summed_confusion():
    records = [
        ok_record(seed=0, f1s=(0.9, 0.1, 0.5), partner="type2", confused=3),
        ok_record(seed=1, f1s=(0.9, 0.5, 0.5), partner="normal", confused=5),
        ok_record(seed=2, f1s=(0.9, 0.3, 0.6), partner="type2", confused=1),
    ]
    (row,) = summary_rows(records)
    # type1 mean 0.3 < type2 mean 0.533; type1's samples went 5 times to normal, 3 + 1 times to type2
    assert row["worst_class"] == "type1 (0.30) -> normal"


def test_worst_class_tie_in_mean_f1_goes_to_the_more_frequent_class():
    (row,) = summary_rows([ok_record(f1s=(0.9, 0.2, 0.2), partner=None)])
    assert row["worst_class"] == "type1 (0.20)"  # type1 and type2 tie; type1 has more training samples


def test_worst_class_partner_tie_is_broken_by_name_in_every_process():
    """A tie once printed '-> normal' in one process and '-> type4' in another (set order follows the hash seed)."""
    records = [
        ok_record(seed=0, f1s=(0.9, 0.1, 0.5), partner="type2"),
        ok_record(seed=1, f1s=(0.9, 0.2, 0.5), partner="normal"),
    ]
    (row,) = summary_rows(records)
    assert row["worst_class"] == "type1 (0.15) -> normal"
    (row,) = summary_rows(records[::-1])
    assert row["worst_class"] == "type1 (0.15) -> normal"
    script = "import json, sys; from asebench.report.summary import summary_rows; print(summary_rows(json.load(sys.stdin))[0]['worst_class'])"
    printed = {
        subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(records),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
        ).stdout.strip()
        for hash_seed in range(6)
    }
    assert printed == {"type1 (0.15) -> normal"}


def test_worst_class_without_partner():
    (row,) = summary_rows([ok_record(partner=None)])
    assert row["worst_class"] == "type2 (0.20)"


def test_missing_bootstrap_bounds_are_left_out_of_the_mean():
    with_ci = ok_record(seed=0, low=0.2, high=0.6)
    without_ci = ok_record(seed=1)
    without_ci["metrics"]["bootstrap"] = {"low": None, "high": None}
    (row,) = summary_rows([with_ci, without_ci])
    assert row["ci_low_mean"] == pytest.approx(0.2) and row["ci_high_mean"] == pytest.approx(0.6)
    without_ci["cell"]["seed"] = 0
    (row,) = summary_rows([without_ci])
    assert row["ci_low_mean"] is None and row["ci_high_mean"] is None


def test_summary_of_nothing():
    assert summary_rows([]) == []


# -- per_class_rows ------------------------------------------------------------------


def test_per_class_rows():
    records = [ok_record(seed=0), bad_record("failed"), ok_record(seed=1, task="binary")]
    rows = per_class_rows(records)
    assert len(rows) == 3 + 2
    assert all(set(r) == set(PER_CLASS_COLUMNS) for r in rows)
    first = rows[0]
    assert first == {
        "dataset": "ase-synth",
        "task": "multiclass",
        "method": "majority",
        "seed": 0,
        "fold": 0,
        "class": "normal",
        "bucket": "head",
        "train_count": 100,
        "precision": 0.9,
        "recall": 0.9,
        "f1": 0.9,
        "support": 10,
    }
    assert [r["class"] for r in rows] == ["normal", "type1", "type2", "normal", "defect"]
    assert [r["bucket"] for r in rows[:3]] == ["head", "medium", "tail"]
    assert rows[3]["seed"] == 1 and rows[3]["task"] == "binary"


def test_per_class_rows_mismatched_buckets_fail_loudly():
    rec = ok_record()
    rec["tail"]["buckets"] = ["head"]
    with pytest.raises(ValueError):
        per_class_rows([rec])


# -- CSV -----------------------------------------------------------------------------


def test_to_csv_summary():
    rows = summary_rows([ok_record(seed=0, macro=0.5), ok_record(seed=1, macro=0.7), bad_record("skipped")])
    text = to_csv(rows, SUMMARY_COLUMNS)
    assert text.endswith("\n") and "\r" not in text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0]) == list(SUMMARY_COLUMNS)
    assert len(parsed) == 2
    assert parsed[0]["macro_f1_mean"] == "0.600000"
    assert parsed[0]["cells"] == "2"
    assert parsed[0]["note"] == ""  # None -> empty
    assert parsed[1]["status"] == "skipped" and parsed[1]["macro_f1_mean"] == ""
    assert parsed[1]["note"] == "weights not found"


def test_to_csv_quotes_commas_and_ignores_extra_keys():
    text = to_csv([{"a": "x, y", "b": 1.0, "c": "dropped"}], ["a", "b"])
    assert text == 'a,b\n"x, y",1.000000\n'


def test_to_csv_per_class():
    text = to_csv(per_class_rows([ok_record()]), PER_CLASS_COLUMNS)
    lines = text.strip().split("\n")
    assert lines[0] == ",".join(PER_CLASS_COLUMNS)
    assert lines[1] == "ase-synth,multiclass,majority,0,0,normal,head,100,0.900000,0.900000,0.900000,10"
    assert len(lines) == 4


# -- summary table and markdown ----------------------------------------------------------


def test_main_table_shape_and_cells():
    records = [
        ok_record(method="majority", task="binary", macro=0.4),
        ok_record(method="majority", task="multiclass", macro=0.2, seed=0),
        ok_record(method="majority", task="multiclass", macro=0.4, seed=1),
        ok_record(method="cnn", task="binary", macro=0.9, family="cnn"),
        bad_record("skipped", method="cnn", task="multiclass"),
    ]
    header, lines = main_table(summary_rows(records))
    assert header == [
        "dataset",
        "method",
        "family",
        "binary macro-F1",
        "multiclass macro-F1",
        "multiclass tail-F1",
        "worst class (multiclass)",
    ]
    assert len(lines) == 2 and all(len(line) == len(header) for line in lines)
    majority, cnn = lines
    assert majority[:3] == ["ase-synth", "majority", "baseline"]
    assert majority[3] == "0.400 [0.300, 0.500]"  # one seed: the bootstrap CI, not "± 0.000"
    assert majority[4] == f"0.300 ± {statistics.stdev([0.2, 0.4]):.3f}"
    assert majority[5] == "0.200"
    assert majority[6] == "type2 (0.20) -> normal"
    assert cnn[:4] == ["ase-synth", "cnn", "cnn", "0.900 [0.800, 1.000]"]
    assert cnn[4].startswith("skipped")
    assert cnn[5] == "–" and cnn[6] == ""


def test_main_table_binary_only_has_no_tail_columns():
    header, lines = main_table(summary_rows([ok_record(task="binary")]))
    assert header == ["dataset", "method", "family", "binary macro-F1"]
    assert lines == [["ase-synth", "majority", "baseline", "0.500 [0.400, 0.600]"]]


def test_main_table_missing_task_shows_dash_and_partial_status():
    records = [
        ok_record(method="a", task="binary"),
        ok_record(method="b", task="multiclass", seed=0),
        bad_record("failed", method="b", seed=1),
    ]
    header, lines = main_table(summary_rows(records))
    assert len(header) == 7
    a, b = lines
    assert a[4] == "–" and a[5] == "–" and a[6] == ""
    assert b[3] == "–"
    assert b[4] == "0.500 [0.400, 0.600] (ok (1 failed))"


def test_main_table_empty():
    assert main_table([]) == (["dataset", "method", "family"], [])


def test_to_markdown_shape_and_escaping():
    header, lines = main_table(summary_rows([ok_record(method="a|b"), ok_record(method="c", task="binary")]))
    text = markdown_table(summary_table(summary_rows([ok_record(method="a|b"), ok_record(method="c", task="binary")])))
    out = text.strip("\n").split("\n")
    assert text.endswith("\n")
    assert len(out) == 2 + len(lines)
    assert out[0] == "| " + " | ".join(header) + " |"
    assert out[1] == "|" + "---|" * len(header)
    assert "a\\|b" in out[2]
    # every line has one cell per column (escaped pipes do not count)
    for line in out:
        assert line.replace("\\|", "").count("|") == len(header) + 1


def test_table_notes_one_line_per_distinct_note():
    from asebench.report import summary

    table_notes = getattr(summary, "table_notes", None)
    if table_notes is None:
        pytest.skip("summary.table_notes not available")
    rows = summary_rows(
        [
            bad_record("skipped", method="cnn", task="binary"),
            bad_record("skipped", method="cnn", task="multiclass"),
            bad_record("failed", method="vit", task="binary", message="NaN loss"),
            ok_record(method="majority"),
        ]
    )
    notes = table_notes(rows)
    assert notes == ["skipped: weights not found -- cnn", "failed: NaN loss -- vit"]


def skipped_for(method: str, reason: str, dataset: str = "ase-synth") -> dict:
    record = bad_record("skipped", method=method, dataset=dataset, task="binary")
    record["skip_reason"] = reason
    return record


def test_table_notes_group_one_reason_over_the_methods_it_covers_with_their_names_normalised_out():
    from asebench.report.summary import table_notes

    clip = "needs weights: set method_options.{}.weights to a local open_clip checkpoint"
    timm = "no offline pretrained weights for {}: none in the caches"
    records = [skipped_for(name, clip.format(name)) for name in ("winclip", "winclip-fewshot", "clip-zeroshot")] + [
        skipped_for(name, timm.format("resnet18")) for name in ("resnet18", "resnet18-probe")
    ]
    records += [skipped_for("resnet50", timm.format("resnet50")), skipped_for("odd", "needs a GPU")]
    notes = table_notes(summary_rows(records))
    assert notes == [
        "skipped: needs weights: set method_options.<method>.weights to a local open_clip checkpoint"
        " -- winclip, winclip-fewshot, clip-zeroshot",
        "skipped: no offline pretrained weights for <method>: none in the caches -- resnet18, resnet18-probe, resnet50",
        "skipped: needs a GPU -- odd",
    ]


def test_table_notes_say_on_which_datasets_when_there_are_several():
    from asebench.report.summary import table_notes

    records = [skipped_for("a", "needs a GPU"), skipped_for("b", "needs a GPU", dataset="neu-det")]
    records.append(skipped_for("c", "needs a GPU", dataset="neu-det"))
    assert table_notes(summary_rows(records)) == ["skipped: needs a GPU -- a, b, c (on ase-synth, neu-det)"]


def test_generic_note_leaves_other_words_alone():
    from asebench.report.summary import generic_note

    assert generic_note("open_clip weights for clip-probe", "clip-probe") == "open_clip weights for <method>"
    assert generic_note("a clip of open_clip", "clip-probe") == "a clip of open_clip"  # a word, not a key
    assert generic_note("predicts the majority class", "majority") == "predicts the majority class"
    assert generic_note("set method_options.majority.x", "majority") == "set method_options.<method>.x"
    assert generic_note("resnet18x is not resnet18", "resnet18") == "resnet18x is not <method>"
    assert generic_note("weights not found", "cnn") == "weights not found"


def test_rows_on_random_init_weights_are_flagged_in_the_table_and_the_notes():
    from asebench.api.records import PLACEHOLDER_WEIGHTS_NOTE
    from asebench.report.summary import table_notes

    random_init = ok_record(method="winclip", task="binary")
    random_init["method"]["placeholder_weights"] = True
    rows = summary_rows([random_init, ok_record(task="binary")])
    _, lines = main_table(rows)
    assert [line[1] for line in lines] == ["winclip ⚠", "majority"]
    assert table_notes(rows) == [f"ok: {PLACEHOLDER_WEIGHTS_NOTE} -- winclip"]


def test_one_seed_shows_the_bootstrap_ci_several_seeds_mean_and_std_and_no_bootstrap_just_the_value():
    one = ok_record(method="one", macro=0.835, low=0.771, high=0.893)
    one["metrics"]["bootstrap"]["confidence"] = 0.95
    several = [ok_record(method="seeds", seed=s, macro=m) for s, m in enumerate([0.5, 0.7])]
    bare = ok_record(method="bare", macro=0.6)
    bare["metrics"]["bootstrap"] = {"low": None, "high": None, "confidence": 0.95, "samples": 0, "seed": 0}
    rows = summary_rows([one, *several, bare])
    _, lines = main_table(rows)
    shown = {line[1]: line[3] for line in lines}
    assert shown == {
        "one": "0.835 [0.771, 0.893]",
        "seeds": f"0.600 ± {statistics.stdev([0.5, 0.7]):.3f}",
        "bare": "0.600",
    }
    assert summary_title(rows) == (
        "macro-F1 (mean ± std over seeds/folds; one seed: value [95% bootstrap CI over test samples]; "
        "one seed, no bootstrap: value)"
    )
    assert summary_title(summary_rows(several)) == "macro-F1 (mean ± std over seeds/folds)"
    assert summary_title(summary_rows([one])) == "macro-F1 (one seed: value [95% bootstrap CI over test samples])"
    assert summary_rows([one])[0]["ci_confidence"] == 0.95


def test_records_without_a_stored_confidence_still_get_a_ci_title():
    assert summary_title(summary_rows([ok_record()])) == "macro-F1 (one seed: value [bootstrap CI over test samples])"
