"""The K-shot, prompt-ablation and transfer sections: built from records only, missing fields said, not crashed on."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from asebench.api.data import Task
from asebench.api.records import CellRecord
from asebench.report.aggregate import group_records
from asebench.report.studies import kshot, prompts, transfer
from asebench.report.studies.kshot import FULL, family_of, kshot_points, kshot_table
from asebench.report.studies.prompts import prompt_table, variant_label
from asebench.report.studies.transfer import transfer_table
from asebench.report.tables import table_csv, to_latex, to_markdown
from asebench.report.writer import write_report
from asebench.scoring.cell import score_cell
from asebench.scoring.tail import TailConfig

CLASSES = ("normal", "defect")
DETECTOR = ["anomaly detector", "normal reference shots"]


def make_record(
    method: str,
    seed: int = 0,
    *,
    dataset: str = "toyset",
    capabilities: list[str] | None = None,
    options: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    auroc: float | None = None,
    split: dict[str, Any] | None = None,
    episodic: dict[str, Any] | None = None,
    cls: str = "toy:Toy",
    fold: int = 0,
) -> CellRecord:
    """A scored binary cell of ``method``; anomaly metrics and the other blocks only when given."""
    truth = np.repeat([0, 1], [10, 10])
    predicted = np.where(np.random.default_rng(seed).random(20) < 0.8, truth, 1 - truth)
    metrics, tail = score_cell(
        truth.tolist(), predicted.tolist(), CLASSES, Task.BINARY, [20, 20], TailConfig(), 0, seed
    )
    record: dict[str, Any] = {
        "schema_version": 1,
        "cell": {
            "method": method,
            "dataset": dataset,
            "task": "binary",
            "seed": seed,
            "fold": fold,
            "config_hash": "h",
        },
        "status": "ok",
        "method": {
            "name": method,
            "family": "toy",
            "class": cls,
            "options": options or {},
            "capabilities": capabilities if capabilities is not None else DETECTOR,
            **({"provenance": provenance} if provenance is not None else {}),
        },
        "dataset": {"name": dataset, "fingerprint": "fp", "class_names": list(CLASSES)},
        "split": {
            "seed": seed,
            "fold": fold,
            "digest": f"s{seed}",
            "train_counts": [20, 20],
            "test_counts": [10, 10],
            **(split or {}),
        },
        "metrics": metrics,
        "tail": tail,
        "predictions": {"ids": [f"i{k}" for k in range(20)], "y_true": truth.tolist(), "y_pred": predicted.tolist()},
        "timings": {"fit_s": 1.0, "predict_s": 0.1, "total_s": 1.2},
        "created_at": "2024-01-01T00:00:00+00:00",
    }
    if auroc is not None:
        record["anomaly_metrics"] = {"image_auroc": auroc, "notes": []}
    if episodic is not None:
        record["episodic"] = episodic
    return CellRecord(record)  # type: ignore[misc]


# -- K-shot --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "family"),
    [
        ("patchcore-4shot", "patchcore"),
        ("patchcore@k=8", "patchcore"),
        ("patchcore", "patchcore"),
        ("winclip-fewshot", "winclip"),
        ("april-gan-fewshot@k=2", "april-gan"),
        ("winclip@prototype=mean-normalise", "winclip@prototype=mean-normalise"),  # not a K sweep: its own family
    ],
)
def test_families_strip_only_the_shot_suffixes(method: str, family: str) -> None:
    assert family_of(method) == family


def test_kshot_points_read_k_from_the_record_and_average_over_seeds() -> None:
    records = []
    for seed, shift in ((0, 0.0), (1, 0.02), (2, 0.04)):
        records += [
            make_record("patchcore-1shot", seed, provenance={"k_shots": 1}, auroc=0.70 + shift),
            make_record("patchcore@k=2", seed, options={"k": 2}, provenance={"k_shots": 2}, auroc=0.80 + shift),
            make_record("patchcore", seed, options={"k": None}, provenance={"k_shots": None}, auroc=0.90 + shift),
        ]
    # an old record without provenance: K from option k of a method with reference shots
    records.append(make_record("winclip", 0, options={"k": 0}, auroc=0.6))
    # a kNN detector's k counts neighbours: not a shot count, not in the table
    records.append(make_record("knn", 0, capabilities=["anomaly detector"], options={"k": 3}, auroc=0.5))
    points, _ = kshot_points(group_records(records))
    by_key = {(p.family, p.k): p for p in points}
    assert set(by_key) == {("patchcore", 1), ("patchcore", 2), ("patchcore", FULL), ("winclip", 0)}
    full = by_key[("patchcore", FULL)].summary
    values = [0.90, 0.92, 0.94]
    half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
    assert full.seeds == 3 and full.mean == pytest.approx(0.92)
    assert (full.low, full.high) == (pytest.approx(0.92 - half), pytest.approx(0.92 + half))
    assert by_key[("winclip", 0)].summary.low is None  # one seed: no interval
    table = kshot_table(group_records(records))
    assert table is not None
    ks = [row[5].text for row in table.rows if row[4].text == "patchcore"]
    assert ks == ["1", "2", "full"]
    assert "one seed" in to_markdown(table) and "run at one K only: winclip on toyset" in table.notes


def test_categories_count_once_per_seed() -> None:
    records = [
        make_record(
            "patchcore-1shot", 0, provenance={"k_shots": 1}, auroc=1.0, split={"protocol": "official", "category": "a"}
        ),
        make_record(
            "patchcore-1shot",
            0,
            provenance={"k_shots": 1},
            auroc=0.5,
            split={"protocol": "official", "category": "b"},
            fold=1,
        ),
    ]
    (point,) = kshot_points(group_records(records))[0]
    assert point.summary.mean == pytest.approx(0.75) and point.protocol == "official"


def test_episodic_classifiers_give_one_point_per_k_and_name_unavailable_ones() -> None:
    episodic = {
        "1": {"episodes": 10, "macro_f1": {"mean": 0.5, "ci95": 0.1}, "accuracy": {"mean": 0.5, "ci95": 0.1}},
        "5": {"episodes": 10, "macro_f1": {"mean": 0.7, "ci95": 0.05}, "accuracy": {"mean": 0.7, "ci95": 0.1}},
        "10": {"unavailable": "10-shot needs 10 training samples per class"},
    }
    records = [
        make_record("protonet", 0, capabilities=["trains", "episodic"], episodic=episodic),
        make_record("simpleshot", 0, capabilities=["trains", "episodic"]),  # written before episodes: no block
    ]
    points, notes = kshot_points(group_records(records))
    assert [(p.family, p.k, p.metric, p.summary.mean, p.episode_ci95) for p in points] == [
        ("protonet", 1, "macro_f1", 0.5, 0.1),
        ("protonet", 5, "macro_f1", 0.7, 0.05),
    ]
    assert any("K=10: 10-shot needs" in n for n in notes)
    assert any("simpleshot" in n and "no episodic block" in n for n in notes)


def test_no_kshot_records_give_no_table() -> None:
    assert kshot_table(group_records([make_record("majority", 0, capabilities=[])])) is None


# -- prompts -------------------------------------------------------------------------------------

CLIP_35 = ["a bad photo of a {}."] + [f"t{i} {{}}" for i in range(34)]
DEFAULTS = {
    "prototype": "normalise-mean-normalise",
    "replace_underscores": True,
    "templates": None,
    "class_prompts": {},
}


def prompt_record(method: str, seed: int, auroc: float, **changes: Any) -> CellRecord:
    options = {**DEFAULTS, "weights": "w.safetensors", "k": 0, **changes}
    return make_record(method, seed, options=options, auroc=auroc, cls="asebench.methods.winclip:WinCLIP")


@pytest.mark.parametrize(
    ("changes", "label"),
    [
        ({}, "default"),
        ({"templates": CLIP_35}, "templates: CLIP's 35"),
        ({"templates": ["a photo of a {}."]}, "templates: one: 'a photo of a {}.'"),
        ({"class_prompts": {"defect": ["damaged {}", "broken {}"]}}, "states: APRIL-GAN's (with broken)"),
        ({"prototype": "mean-normalise"}, "prototype: mean-normalise"),
        ({"replace_underscores": False}, "object name: verbatim"),
    ],
)
def test_variants_are_read_from_the_options(changes: dict[str, Any], label: str) -> None:
    assert variant_label({**DEFAULTS, **changes}) == label


def test_prompt_table_compares_each_variant_with_the_default() -> None:
    records = []
    for seed in (0, 1):
        records += [
            prompt_record("winclip", seed, 0.80 + seed / 100),
            prompt_record("winclip-clip35", seed, 0.85 + seed / 100, templates=CLIP_35),
            prompt_record("winclip@prototype=mean-normalise", seed, 0.70 + seed / 100, prototype="mean-normalise"),
            # other non-prompt options: another block (and alone in it: no ablation, not shown)
            prompt_record("winclip-big", seed, 0.9, image_size=336),
        ]
    table = prompt_table(group_records(records))
    assert table is not None
    rows = {row[0].text: row for row in table.rows}
    assert set(rows) == {"winclip", "winclip-clip35", "winclip@prototype=mean-normalise"}
    assert rows["winclip"][1].text == "default" and rows["winclip"][6].text == "–"
    assert rows["winclip-clip35"][6].text == "+0.050" and rows["winclip@prototype=mean-normalise"][6].text == "-0.100"
    assert list(table.sections.values()) == ["winclip — toyset, holdout, binary"]
    data = list(csv.DictReader(io.StringIO(table_csv(table))))
    assert {d["variant"] for d in data} == {"default", "templates: CLIP's 35", "prototype: mean-normalise"}


def test_a_block_without_the_default_variant_has_no_delta() -> None:
    records = [
        prompt_record("a", 0, 0.8, templates=CLIP_35),
        prompt_record("b", 0, 0.7, prototype="mean-normalise"),
    ]
    table = prompt_table(group_records(records))
    assert table is not None and all(row[6].text == "–" for row in table.rows)
    assert any("no default-variant record" in n for n in table.notes)


def test_no_ablation_gives_no_table() -> None:
    assert prompt_table(group_records([prompt_record("winclip", 0, 0.8)])) is None


# -- transfer ------------------------------------------------------------------------------------


def transfer_record(method: str, target: str, source: str | None, category: str, seed: int, auroc: float) -> CellRecord:
    split: dict[str, Any] = {"protocol": "official" if source is None else "transfer", "category": category}
    if source is not None:
        split["source_dataset"] = {"name": source, "fit_on": "test", "fingerprint": "f"}
    return make_record(method, seed, dataset=target, auroc=auroc, split=split, capabilities=["anomaly detector"])


def test_transfer_matrix_means_over_target_categories_with_the_in_domain_diagonal() -> None:
    records = [
        transfer_record("patchcore", "visa", "mvtec", "candle", 0, 0.6),
        transfer_record("patchcore", "visa", "mvtec", "candle", 1, 0.8),  # candle: 0.7 over seeds
        transfer_record("patchcore", "visa", "mvtec", "pcb", 0, 0.9),  # pcb: 0.9 -> mean 0.8, not (.6+.8+.9)/3
        transfer_record("patchcore", "mvtec", "visa", "bottle", 0, 0.55),
        transfer_record("patchcore", "mvtec", None, "bottle", 0, 0.95),  # official, in-domain
        transfer_record("winclip", "visa", None, "pcb", 0, 0.9),  # official only: no transfer block
    ]
    table = transfer_table(group_records(records))
    assert table is not None
    assert [c.name for c in table.columns] == ["train on", "test on mvtec", "test on visa"]
    assert [[c.text for c in row] for row in table.rows] == [
        ["mvtec", "0.950 (in-domain)", "0.800"],
        ["visa", "0.550", "–"],
    ]
    assert list(table.sections.values()) == ["patchcore"]
    assert not any("no in-domain diagonal" in n for n in table.notes)
    data = list(csv.DictReader(io.StringIO(table_csv(table))))
    visa = next(d for d in data if d["test_dataset"] == "visa")
    assert float(visa["image_auroc"]) == pytest.approx(0.8) and visa["categories"] == "2" and visa["cells"] == "3"


def test_transfer_records_without_a_source_are_named() -> None:
    records = [transfer_record("m", "visa", "mvtec", "pcb", 0, 0.7)]
    broken = transfer_record("m", "visa", "mvtec", "candle", 0, 0.7)
    del broken["split"]["source_dataset"]
    table = transfer_table(group_records([*records, broken]))
    assert table is not None and any("without its source dataset" in n for n in table.notes)
    assert any("no in-domain diagonal" in n for n in table.notes)


# -- the report ----------------------------------------------------------------------------------


def test_report_writes_each_study_or_says_what_the_records_lack(tmp_path: Path) -> None:
    records = [
        make_record("patchcore-1shot", 0, provenance={"k_shots": 1}, auroc=0.7),
        make_record("patchcore", 0, provenance={"k_shots": None}, auroc=0.9),
        make_record("majority", 0, capabilities=[]),
    ]
    output = write_report(records, [tmp_path], tmp_path)
    folder = output.folder
    assert all((folder / f"kshot.{fmt}").is_file() for fmt in ("md", "csv", "tex"))
    assert not (folder / "prompts.md").exists() and not (folder / "transfer.md").exists()
    assert (folder / "figures" / "kshot__toyset__binary.png").is_file()
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "K-shot curves" in page and "data:image/png;base64" in page
    assert prompts.ABSENT.split(":")[0] in page and transfer.ABSENT.split(":")[0] in page
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert "## Prompt ablation" in markdown and "configs/prompt_ablation.yaml" in markdown
    assert "\\begin{tabular}" in to_latex(kshot_table(group_records(records)))  # type: ignore[arg-type]
    assert kshot.ABSENT.startswith("no K-shot results")
