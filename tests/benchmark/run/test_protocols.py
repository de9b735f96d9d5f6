"""The per-category anomaly protocols: official split membership, transfer without leakage, refusals, tables.

Everything runs on generated data: a small ``anomaly-synth`` (both domains) and a tiny MVTec-layout folder
written here, scored by ``spy-anomaly`` (tests/fixtures/anomaly_methods.py), a real but simple detector that
records every sample its ``fit`` receives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from asebench.api.data import LoadedDataset
from asebench.api.errors import ConfigError, DatasetError
from asebench.api.method import Capabilities, protocol_refusal
from asebench.api.plugins import load_plugin
from asebench.api.registry import DATASETS, METHODS
from asebench.cli.run_command import run_and_summarise, split_overrides
from asebench.datasets.anomaly_synth import AnomalySynth, AnomalySynthOptions
from asebench.run.config import RunConfig, build_config
from asebench.run.grid import plan_cells, plan_datasets, plan_methods, plan_source
from asebench.run.jobs import load_dataset
from asebench.run.runner import RunOutcome
from asebench.run.splits import SplitConfig, official_split, protocol_categories

pytestmark = pytest.mark.usefixtures("isolated_methods")

PLUGIN = str(Path(__file__).resolve().parents[2] / "fixtures" / "anomaly_methods.py")
SMALL = {
    "image_size": 48,
    "train_per_category": 4,
    "test_good_per_category": 2,
    "test_defect_per_kind": 1,
    "categories": ["grid", "washer"],
}


def config(tmp_path: Path, split: dict[str, Any], **overrides: Any) -> RunConfig:
    values: dict[str, Any] = {
        "methods": ["spy-anomaly", "majority"],
        "datasets": ["anomaly-synth"],
        "split": split,
        "dataset_options": {"anomaly-synth": SMALL, "anomaly-synth-b": SMALL},
        "plugins": [PLUGIN],
        "device": "cpu",
        "run_dir": tmp_path / "run",
        "bootstrap": {"samples": 0},
        **overrides,
    }
    return build_config(values)


def run(cfg: RunConfig) -> tuple[RunOutcome, list[list[dict[str, Any]]]]:
    """Run ``cfg`` as ``asebench run`` does; also return what each ``fit`` of ``spy-anomaly`` received."""
    assert load_plugin(PLUGIN) is None  # the runner imports it again: the same module, so the same class
    spy: Any = METHODS.get("spy-anomaly")
    spy.fits.clear()
    outcome, _ = run_and_summarise(cfg)
    return outcome, list(spy.fits)


def synth(domain: str = "a") -> LoadedDataset:
    return AnomalySynth(AnomalySynthOptions(**SMALL, domain=domain)).load()  # type: ignore[arg-type]


def official_ids(dataset: LoadedDataset, part: str, category: str, normal_only: bool = False) -> set[str]:
    return {
        s.id
        for s in dataset.samples
        if s.metadata["official_split"] == part
        and s.metadata["category"] == category
        and (not normal_only or s.label == dataset.normal_class)
    }


# -- official --------------------------------------------------------------------------------


def test_official_split_of_a_category_is_its_normal_train_images_and_its_test_images() -> None:
    data = synth()
    assert protocol_categories(data.samples, "official", "anomaly-synth") == ["grid", "washer"]
    for category in ("grid", "washer"):
        split = official_split(data.samples, data.normal_class, category, "anomaly-synth")
        ids = [s.id for s in data.samples]
        assert {ids[i] for i in split.train} == official_ids(data, "train", category, normal_only=True)
        assert {ids[i] for i in split.test} == official_ids(data, "test", category)
        assert len(split.val) == 0 and split.category == category and split.source is None
        assert not set(split.train) & set(split.test)
        assert len(split.train) == 4 and len(split.test) == 2 + (4 if category == "grid" else 5)


def test_a_dataset_without_official_split_metadata_is_refused_by_name(tiny_folder_dataset: Any) -> None:
    cfg = build_config({"datasets": ["folder"], "dataset_options": {"folder": {"root": str(tiny_folder_dataset())}}})
    data = load_dataset(plan_datasets(cfg)[0])
    with pytest.raises(DatasetError, match=r"official protocol needs every sample's metadata 'category'.*'folder'"):
        protocol_categories(data.samples, "official", "folder")


def test_official_run_scores_each_category_and_skips_classifiers(tmp_path: Path) -> None:
    outcome, fits = run(config(tmp_path, {"protocol": "official"}))
    data = synth()
    records = {(r["cell"]["method"], r["cell"]["fold"]): r for r in outcome.records}
    assert {r["cell"]["task"] for r in outcome.records} == {"binary"}  # the multiclass task is not planned
    assert sorted(records) == [("majority", 0), ("majority", 1), ("spy-anomaly", 0), ("spy-anomaly", 1)]
    for fold, category in enumerate(["grid", "washer"]):
        spy = records[("spy-anomaly", fold)]
        assert spy["status"] == "ok" and spy["split"]["category"] == category
        assert spy["split"]["protocol"] == "official" and spy["split"]["val_counts"] == [0, 0]
        assert set(spy["predictions"]["ids"]) == official_ids(data, "test", category)
        assert {f["id"] for f in fits[fold]} == official_ids(data, "train", category, normal_only=True)
        assert {f["label"] for f in fits[fold]} == {0}  # normal images only reach fit
        assert spy["anomaly_metrics"]["pixel_pro"] is not None
        majority = records[("majority", fold)]
        assert majority["status"] == "skipped"
        assert "majority is a classifier that needs labelled defective images" in majority["skip_reason"]
    text = (outcome.run_dir / "anomaly.md").read_text(encoding="utf-8")
    assert "### spy-anomaly — anomaly-synth, official, binary" in text
    assert "| category | cells | I-AUROC | I-AP | I-F1max | P-AUROC | P-AP | P-F1max | PRO@30% |" in text
    for row in ("| grid | 1 |", "| washer | 1 |", "| mean | 2 |"):
        assert row in text


def write_mvtec(root: Path, categories: tuple[str, ...] = ("bottle", "screw"), size: int = 24) -> Path:
    """A tiny MVTec AD folder: plain grey normals, defects with a bright square exactly where the mask is."""
    rng = np.random.default_rng(0)
    for category in categories:
        for folder, count in (("train/good", 4), ("test/good", 2), ("test/scratch", 2)):
            for i in range(count):
                image = np.full((size, size, 3), 100, dtype=np.uint8) + rng.integers(0, 8, (size, size, 3), np.uint8)
                mask = np.zeros((size, size), dtype=np.uint8)
                if folder == "test/scratch":
                    mask[4 + 3 * i : 10 + 3 * i, 5:12] = 255
                    image[mask > 0] = 250
                    path = root / category / "ground_truth" / "scratch" / f"{i:03d}_mask.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(mask).save(path)
                path = root / category / folder / f"{i:03d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(path)
    return root


def test_an_mvtec_layout_folder_gives_the_per_category_table_from_the_command_line(
    tmp_path: Path, call_main: Any
) -> None:
    root = write_mvtec(tmp_path / "mvtec")
    run_dir = tmp_path / "run"
    code, _, err = call_main(
        "run", "-m", "spy-anomaly,majority", "-d", f"mvtec:{root}", "--split-protocol", "official",
        "--plugin", PLUGIN, "--run-dir", run_dir, "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err  # skipped classifier cells are no failure
    text = (run_dir / "anomaly.md").read_text(encoding="utf-8")
    assert "### spy-anomaly — mvtec, official, binary" in text
    assert "| bottle | 1 | 100.0 |" in text and "| screw | 1 | 100.0 |" in text  # bright squares: separable
    assert "| mean | 2 | 100.0 |" in text
    csv_lines = (run_dir / "anomaly.csv").read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[4] for line in csv_lines[1:]] == ["bottle", "screw", "mean"]


def test_per_category_protocols_run_the_binary_task_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="binary task only"):
        run(config(tmp_path, {"protocol": "official"}, tasks=["multiclass"]))


# -- transfer --------------------------------------------------------------------------------


@pytest.mark.parametrize("fit_on", ["test", "train"])
def test_no_image_of_the_target_dataset_reaches_fit(tmp_path: Path, fit_on: str) -> None:
    split = {"protocol": "transfer", "train": "anomaly-synth", "test": "anomaly-synth-b", "fit_on": fit_on}
    cfg = config(tmp_path, split, datasets=["anomaly-synth-b"], methods=["spy-anomaly", "spy-anomaly-shots"])
    outcome, fits = run(cfg)
    source, target = synth("a"), synth("b")
    assert source.fingerprint != target.fingerprint
    target_paths = {str(s.image) for s in target.samples}
    expected = {s.id for s in source.samples if s.metadata["official_split"] == fit_on}
    if fit_on == "train":
        expected = {i for i in expected if "/good/" in i}
    assert len(fits) == 2  # one fit per target category
    for given in fits:
        assert not {f["path"] for f in given} & target_paths  # the leakage check
        assert {f["fingerprint"] for f in given} == {source.fingerprint}
        assert {f["id"] for f in given} == expected  # the source's whole official split, all categories
    spy = [r for r in outcome.records if r["cell"]["method"] == "spy-anomaly"]
    assert [r["split"]["category"] for r in spy] == ["grid", "washer"]
    for record in spy:
        assert record["status"] == "ok" and record["dataset"]["fingerprint"] == target.fingerprint
        source_block = record["split"]["source_dataset"]
        assert source_block["fingerprint"] == source.fingerprint
        assert source_block["name"] == "anomaly-synth" and source_block["fit_on"] == fit_on
        assert set(record["predictions"]["ids"]) == official_ids(target, "test", record["split"]["category"])
    shots = [r for r in outcome.records if r["cell"]["method"] == "spy-anomaly-shots"]
    assert {r["status"] for r in shots} == {"skipped"}
    assert "draws its normal reference shots" in shots[0]["skip_reason"]
    text = (outcome.run_dir / "anomaly.md").read_text(encoding="utf-8")
    assert f"### spy-anomaly — anomaly-synth-b, transfer from anomaly-synth (fit on {fit_on}), binary" in text


def test_the_source_dataset_is_part_of_every_transfer_cells_config_hash(tmp_path: Path) -> None:
    def hashes(source_seed: int) -> list[str]:
        split = {"protocol": "transfer", "train": "anomaly-synth"}
        options = {"anomaly-synth": {**SMALL, "seed": source_seed}, "anomaly-synth-b": SMALL}
        cfg = config(tmp_path, split, datasets=["anomaly-synth-b"], dataset_options=options, methods=["majority"])
        source_plan = plan_source(cfg)
        assert source_plan is not None
        target = {"anomaly-synth-b": load_dataset(plan_datasets(cfg)[0])}
        return [c.key.config_hash for c in plan_cells(cfg, plan_methods(cfg), target, load_dataset(source_plan))]

    first, second = hashes(0), hashes(1)
    assert len(first) == 2 and not set(first) & set(second)


def test_anomaly_synth_b_is_the_same_adapter_with_domain_b() -> None:
    entry = DATASETS.entry("anomaly-synth-b")
    assert DATASETS.get("anomaly-synth-b") is AnomalySynth and dict(entry.defaults) == {"domain": "b"}


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"split": {"protocol": "transfer"}}, "needs train"),
        ({"split": {"protocol": "official", "train": "visa"}}, "belong to the transfer protocol"),
        ({"split": {"protocol": "transfer", "train": "ase-synth"}}, "also a dataset of the run"),
        (
            {"datasets": ["visa"], "split": {"protocol": "transfer", "train": "mvtec", "test": "anomaly-synth"}},
            "split.test names the target",
        ),
    ],
)
def test_transfer_settings_are_checked(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(values)


def test_transfer_test_names_the_run_dataset_and_other_protocols_dump_as_before() -> None:
    cfg = build_config({"split": {"protocol": "transfer", "train": "anomaly-synth", "test": "anomaly-synth-b"}})
    assert cfg.datasets == ["anomaly-synth-b"] and cfg.split.fit_on == "test"
    holdout = SplitConfig().model_dump(mode="json")
    assert holdout == {"protocol": "holdout", "test_fraction": 0.2, "val_fraction": 0.2, "folds": 5}
    assert RunConfig.model_validate_json(cfg.model_dump_json()).split == cfg.split


def test_split_flags_merge_into_the_config_files_split() -> None:
    assert split_overrides(None, None, None, None) is None
    assert split_overrides({"folds": 3}, "official", None, None) == {"folds": 3, "protocol": "official"}
    assert split_overrides(None, None, "visa:/data/visa", "train") == {
        "protocol": "transfer",
        "train": "visa:/data/visa",
        "fit_on": "train",
    }
    dropped = split_overrides({"protocol": "transfer", "train": "visa"}, "official", None, None)
    assert dropped == {"protocol": "official"}


def test_only_anomaly_detectors_are_accepted_and_list_shows_it() -> None:
    classifier, detector = Capabilities(), Capabilities(anomaly_detector=True)
    shots = Capabilities(anomaly_detector=True, reference_shots=True)
    assert classifier.protocols() == ["holdout", "kfold"]
    assert detector.protocols() == ["holdout", "kfold", "official", "transfer"]
    assert shots.protocols() == ["holdout", "kfold", "official"]
    assert protocol_refusal(classifier, "kfold", "majority") is None
    assert "winclip" in METHODS.names() and "official" in METHODS.get("winclip").capabilities.protocols()
    assert "official" not in METHODS.get("majority").capabilities.protocols()
