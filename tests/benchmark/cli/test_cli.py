"""The ``asebench`` command line: list, run, report, and one clear message for every bad input."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from asebench.cli.run_command import run_and_summarise
from asebench.run.config import RunConfig
from asebench.run.runner import RunOutcome
from asebench.store.run_directory import load_record


def run(config: RunConfig) -> RunOutcome:
    """A run as ``asebench run`` does it: the records, then the summary files built from them."""
    return run_and_summarise(config)[0]


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TOY_PLUGIN = str(FIXTURES / "toy_methods.py")
SUMMARY_FILES = ("summary.csv", "summary.md", "per_class.csv", "results.json")


def table_row(output: str, name: str) -> list[str] | None:
    """Cells of the rich table row whose first cell is ``name`` (tables are not wrapped: COLUMNS=400)."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if len(cells) > 1 and cells[0] == name:
            return cells
    return None


def cell_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "cells").glob("*.json"))


def make_config(root: Path, run_dir: Path, **overrides: Any) -> RunConfig:
    values: dict[str, Any] = {
        "methods": ["majority"],
        "datasets": ["folder"],
        "dataset_options": {"folder": {"root": str(root)}},
        "device": "cpu",
        "run_dir": run_dir,
        "bootstrap": {"samples": 10},
        "plugins": [TOY_PLUGIN],
    }
    values.update(overrides)
    return RunConfig(**values)


# -- asebench list ----------------------------------------------------------------------------


def test_list_shows_builtin_methods_and_datasets(run_cli: Callable[..., Any]) -> None:
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    majority = table_row(out, "majority")
    assert majority is not None and majority[1] == "sanity" and majority[-1] == "yes"
    assert table_row(out, "tf_efficientnet_lite0") is not None
    resnet = table_row(out, "resnet18")
    assert resnet is not None
    assert resnet[-1].startswith("no: ") and "weights" in resnet[-1]
    scratch = table_row(out, "resnet18-scratch")
    assert scratch is not None and scratch[-1] == "yes"
    folder = table_row(out, "folder")
    assert folder is not None and folder[-1] == "needs options: root"
    assert table_row(out, "neu-det") is not None
    assert majority[4] == "holdout, kfold"  # a classifier: not the per-category anomaly protocols
    winclip, fewshot = table_row(out, "winclip"), table_row(out, "winclip-fewshot")
    assert winclip is not None and winclip[4] == "holdout, kfold, official, transfer"
    assert fewshot is not None and fewshot[4] == "holdout, kfold, official"
    assert table_row(out, "anomaly-synth-b") is not None
    if "ase-synth" in out:  # registered by another part of the project once it lands
        assert table_row(out, "ase-synth") is not None
    assert "failed to import" not in out
    assert "Traceback" not in out + result.stderr


def test_list_reports_a_broken_plugin_and_still_lists_the_rest(run_cli: Callable[..., Any]) -> None:
    result = run_cli("list", "--plugin", "tests/fixtures/broken_plugin.py", "--plugin", "tests/fixtures/toy_methods.py")
    assert result.returncode == 2, result.stderr  # named by the user: listed with the rest, then an error
    assert "broken_plugin.py failed to load: ImportError" in result.stderr
    out = result.stdout
    assert "plugins that failed to import" in out
    broken = table_row(out, "--plugin tests/fixtures/broken_plugin.py")
    assert broken is not None
    assert "ImportError: broken_plugin: deliberate import failure" in broken[1]
    for name in ("majority", "resnet18", "tf_efficientnet_lite0", "toy-constant", "folder"):
        assert table_row(out, name) is not None, name
    toy = table_row(out, "toy-unavailable")
    assert toy is not None and toy[3].startswith("plugin ") and "toy-weights.bin" in toy[-1]
    assert "Traceback" not in out + result.stderr


# -- asebench run -----------------------------------------------------------------------------


def test_run_with_a_method_glob(
    tiny_folder_dataset: Callable[..., Path],
    write_run_config: Callable[..., Path],
    run_cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    config = write_run_config(tiny_folder_dataset(), seeds=[0, 1])
    run_dir = tmp_path / "glob-run"
    result = run_cli("run", "-c", config, "--run-dir", run_dir, "--methods", "maj*")
    assert result.returncode == 0, result.stderr
    records = [load_record(p) for p in cell_files(run_dir)]
    assert sorted((r["cell"]["task"], r["cell"]["seed"]) for r in records) == [
        ("binary", 0),
        ("binary", 1),
        ("multiclass", 0),
        ("multiclass", 1),
    ]
    assert {r["cell"]["method"] for r in records} == {"majority"}
    assert all(r["status"] == "ok" for r in records)
    assert "majority" in result.stdout and "4 cell(s) computed, 0 reused" in result.stdout
    assert "±" in result.stdout


# -- asebench report --------------------------------------------------------------------------


def test_report_rebuilds_the_run_summaries(
    tiny_folder_dataset: Callable[..., Path], run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = make_config(tiny_folder_dataset(), tmp_path / "run", seeds=[0, 1])
    run(config)
    original = {name: (config.run_dir / name).read_text() for name in ("summary.csv", "summary.md", "per_class.csv")}
    for name in SUMMARY_FILES:
        (config.run_dir / name).unlink()

    result = run_cli("report", config.run_dir, "--no-plots")
    assert result.returncode == 0, result.stderr
    assert (config.run_dir / "summary.csv").read_text() == original["summary.csv"]
    assert (config.run_dir / "summary.md").read_text() == original["summary.md"]
    # same rows; their order is covered by the xfail below
    rebuilt = (config.run_dir / "per_class.csv").read_text().splitlines()
    assert rebuilt[0] == original["per_class.csv"].splitlines()[0]
    assert sorted(rebuilt) == sorted(original["per_class.csv"].splitlines())
    results = json.loads((config.run_dir / "results.json").read_text())
    assert len(results["cells"]) == 4
    assert "4 record(s) from 1 run dir(s)" in result.stdout


def test_report_seed_test_choice_is_validated_and_named_in_the_report(
    tiny_folder_dataset: Callable[..., Path], run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = make_config(tiny_folder_dataset(), tmp_path / "run", seeds=[0, 1], methods=["majority", "toy-constant"])
    run(config)
    bad = run_cli("report", config.run_dir, "--no-plots", "--seed-test", "bonferroni")
    assert bad.returncode != 0
    assert "--seed-test must be one of corrected, ttest, wilcoxon" in bad.stdout + bad.stderr
    default = run_cli("report", config.run_dir, "--no-plots", "--formats", "md", "--out", tmp_path / "default")
    assert default.returncode == 0, default.stderr
    assert "corrected resampled t-test (Nadeau-Bengio)" in (tmp_path / "default" / "report" / "report.md").read_text()
    plain = run_cli(
        "report", config.run_dir, "--no-plots", "--formats", "md", "--out", tmp_path / "plain", "--seed-test", "ttest"
    )
    assert plain.returncode == 0, plain.stderr
    assert "seeds: paired t-test over" in (tmp_path / "plain" / "report" / "significance.md").read_text()


def test_report_merges_run_dirs_with_different_seeds(
    tiny_folder_dataset: Callable[..., Path], run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    root = tiny_folder_dataset()
    first = run(make_config(root, tmp_path / "seed0", seeds=[0], methods=["majority", "toy-constant"]))
    second = run(make_config(root, tmp_path / "seed1", seeds=[1], methods=["majority", "toy-constant"]))
    both, both_rows = run_and_summarise(
        make_config(root, tmp_path / "both", seeds=[0, 1], methods=["majority", "toy-constant"])
    )
    merged_dir = tmp_path / "merged"

    result = run_cli("report", first.run_dir, second.run_dir, "--out", merged_dir, "--no-plots")
    assert result.returncode == 0, result.stderr
    assert "8 record(s) from 2 run dir(s)" in result.stdout
    merged = json.loads((merged_dir / "results.json").read_text())
    assert len(merged["cells"]) == 8
    rows = {(r["task"], r["method"]): r for r in merged["summary"]}
    expected = {(r["task"], r["method"]): r for r in both_rows}
    assert rows.keys() == expected.keys()
    for key, row in rows.items():
        assert row["cells"] == 2
        assert row["macro_f1_mean"] == pytest.approx(expected[key]["macro_f1_mean"])
        assert row["macro_f1_std"] == pytest.approx(expected[key]["macro_f1_std"])
    # the merged summary holds the same rows as one run over both seeds
    assert sorted((merged_dir / "summary.csv").read_text().splitlines()) == sorted(
        (both.run_dir / "summary.csv").read_text().splitlines()
    )


def test_report_reproduces_summary_csv_byte_for_byte_with_two_methods(
    tiny_folder_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    from asebench.report.run_files import write_summaries
    from asebench.store.run_directory import RunDirectory, merge_records

    config = make_config(tiny_folder_dataset(), tmp_path / "run", methods=["majority", "toy-constant"], seeds=[0, 1])
    run(config)
    original = {name: (config.run_dir / name).read_text() for name in ("summary.csv", "per_class.csv")}
    out = RunDirectory(tmp_path / "report")
    out.prepare()
    write_summaries(out, merge_records([config.run_dir]), environment={})
    assert {name: (out.path / name).read_text() for name in original} == original


def test_report_after_an_option_change_matches_the_latest_run(
    tiny_folder_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    from asebench.report.summary import summary_rows
    from asebench.store.run_directory import RunDirectory, merge_records

    config = make_config(tiny_folder_dataset(), tmp_path / "run", methods=["toy-constant"], tasks=["multiclass"])
    run(config)
    _, latest_rows = run_and_summarise(config.model_copy(update={"method_options": {"toy-constant": {"label": 1}}}))
    assert latest_rows[0]["cells"] == 1
    rebuilt = summary_rows(merge_records([RunDirectory(config.run_dir).path]))
    assert [row["cells"] for row in rebuilt] == [1]


# -- bad input: one clear message, exit 2, nothing half-written ----------------------------------


def _corrupt_image(root: Path, tmp_path: Path) -> tuple[list[str], str]:
    victim = root / "type1" / "img_003.png"
    victim.write_bytes(victim.read_bytes()[:60])
    return [], "\n  type1/img_003.png: truncated or corrupt image"


def _empty_class(root: Path, tmp_path: Path) -> tuple[list[str], str]:
    (root / "type3").mkdir()
    return [], f"folder dataset {root} has 1 problem: 1 empty class\n  type3/: empty class"


def _unknown_csv_class(root: Path, tmp_path: Path) -> tuple[list[str], str]:
    (root / "metadata.csv").write_text("id,class,score\nnormal/img_000,normal,1.5\ntype1/img_001,type9,2\n")
    return [], "metadata.csv row 3 (id 'type1/img_001'): unknown label (class 'type9')"


def _missing_dir(root: Path, tmp_path: Path) -> tuple[list[str], str]:
    shutil.rmtree(root)
    return [], f"dataset directory not found: {root}"


def _unknown_method(root: Path, tmp_path: Path) -> tuple[list[str], str]:
    return ["--methods", "majorty"], "unknown method 'majorty'. Did you mean: majority?"


def _unknown_glob(root: Path, tmp_path: Path) -> tuple[list[str], str]:
    return ["--methods", "zzz*"], "unknown method 'zzz*'"


BAD_DATA_CASES: dict[str, Callable[[Path, Path], tuple[list[str], str]]] = {
    "corrupt-image": _corrupt_image,
    "empty-class-dir": _empty_class,
    "unknown-class-in-metadata-csv": _unknown_csv_class,
    "missing-data-dir": _missing_dir,
    "unknown-method": _unknown_method,
    "unknown-glob": _unknown_glob,
}


def error_block(err: str) -> str:
    """The ``error:`` line with the indented lines that continue it (a dataset's list of bad files)."""
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("error:"))
    end = start + 1
    while end < len(lines) and lines[end][:1].isspace():
        end += 1
    return "\n".join(lines[start:end])


def assert_one_clear_error(code: int, out: str, err: str, expected: str) -> None:
    assert code == 2, out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert expected in error_block(err), err
    assert "Traceback" not in out + err


def assert_nothing_written(run_dir: Path) -> None:
    assert not list(run_dir.glob("cells/*.json"))
    for name in SUMMARY_FILES:
        assert not (run_dir / name).exists(), name


@pytest.mark.parametrize("case", list(BAD_DATA_CASES))
def test_bad_input_gives_one_clear_message(
    case: str,
    tiny_folder_dataset: Callable[..., Path],
    write_run_config: Callable[..., Path],
    call_main: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    root = tiny_folder_dataset()
    extra, expected = BAD_DATA_CASES[case](root, tmp_path)
    config = write_run_config(root)
    run_dir = tmp_path / "run"
    code, out, err = call_main("run", "-c", config, "--run-dir", run_dir, *(extra or ["-m", "majority"]))
    assert_one_clear_error(code, out, err, expected)
    assert_nothing_written(run_dir)


def test_unwritable_results_dir(
    tiny_folder_dataset: Callable[..., Path],
    write_run_config: Callable[..., Path],
    call_main: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    # a parent that is a regular file cannot hold a directory, even for root (who ignores chmod)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    run_dir = blocker / "run"
    config = write_run_config(tiny_folder_dataset())
    code, out, err = call_main("run", "-c", config, "--run-dir", run_dir, "-m", "majority")
    assert_one_clear_error(code, out, err, f"results directory {run_dir} is not writable")
    assert blocker.read_text() == "x"


def test_unknown_config_key_is_named(
    tiny_folder_dataset: Callable[..., Path],
    write_run_config: Callable[..., Path],
    call_main: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    config = write_run_config(tiny_folder_dataset(), split={"fold": 3})
    run_dir = tmp_path / "run"
    code, out, err = call_main("run", "-c", config, "--run-dir", run_dir, "-m", "majority")
    assert_one_clear_error(code, out, err, f"{config}: unknown key 'split.fold'")
    assert not run_dir.exists()


@pytest.mark.parametrize("case", ["corrupt-image", "unknown-config-key"])
def test_bad_input_through_the_console_script(
    case: str,
    tiny_folder_dataset: Callable[..., Path],
    write_run_config: Callable[..., Path],
    run_cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    root = tiny_folder_dataset()
    if case == "corrupt-image":
        _, expected = _corrupt_image(root, tmp_path)
        config = write_run_config(root)
    else:
        config = write_run_config(root, split={"fold": 3})
        expected = "unknown key 'split.fold'"
    run_dir = tmp_path / "run"
    result = run_cli("run", "-c", config, "--run-dir", run_dir, "-m", "majority")
    assert_one_clear_error(result.returncode, result.stdout, result.stderr, expected)
    assert_nothing_written(run_dir)


def add_bad_files(root: Path) -> Path:
    """One of each: a text file named .jpg, a 0-byte .png, a JPEG cut in half, an empty class folder."""
    import io

    import numpy as np
    from PIL import Image

    (root / "normal" / "notes.jpg").write_text("not an image")
    (root / "type1" / "blank.png").write_bytes(b"")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (root / "type2" / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (root / "type3").mkdir()
    return root


def test_bad_data_all_at_once_from_the_dataset_flag(
    tiny_folder_dataset: Callable[..., Path], call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    root = add_bad_files(tiny_folder_dataset())
    run_dir = tmp_path / "run"
    code, out, err = call_main("run", "-d", f"folder:{root}", "-m", "majority", "--run-dir", run_dir, "--device", "cpu")
    header = f"folder dataset {root} has 4 problems: 1 non-image file, 1 empty file, 1 truncated or corrupt image, 1 empty class"
    assert_one_clear_error(code, out, err, f"error: {header}")
    block = error_block(err).splitlines()
    assert [line.split(": ")[0] for line in block[1:5]] == [
        "  normal/notes.jpg",
        "  type1/blank.png",
        "  type2/cut.jpg",
        "  type3/",
    ]
    assert block[5].startswith("  hint: ") and "on_corrupt: skip" in block[5]
    assert_nothing_written(run_dir)


def test_on_corrupt_skip_runs_and_records_the_dropped_files(
    tiny_folder_dataset: Callable[..., Path],
    write_run_config: Callable[..., Path],
    call_main: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    root = add_bad_files(tiny_folder_dataset())
    options = {"folder": {"root": str(root), "on_corrupt": "skip"}}
    config = write_run_config(root, dataset_options=options, tasks=["multiclass"])
    code, out, err = call_main("run", "-c", config, "--run-dir", tmp_path / "skipped", "-m", "majority")
    assert code == 0, out + err
    assert f"warning: dataset folder at {root}: dropped 3 unreadable files and 1 empty class (on_corrupt: skip)" in err
    skipped = load_record(cell_files(tmp_path / "skipped")[0])
    assert skipped["dataset"]["dropped"] == [
        {"path": "normal/notes.jpg", "cause": "non-image file (no image format recognised)"},
        {"path": "type1/blank.png", "cause": "empty file (0 bytes)"},
        {"path": "type2/cut.jpg", "cause": skipped["dataset"]["dropped"][2]["cause"]},
        {"path": "type3/", "cause": "empty class (no image files in its folder)"},
    ]
    assert skipped["dataset"]["dropped"][2]["cause"].startswith("truncated or corrupt image (")
    assert skipped["dataset"]["class_names"] == ["normal", "type1", "type2"]

    for name in ("normal/notes.jpg", "type1/blank.png", "type2/cut.jpg"):
        (root / name).unlink()
    (root / "type3").rmdir()
    code, out, err = call_main("run", "-c", config, "--run-dir", tmp_path / "cleaned", "-m", "majority")
    assert code == 0 and "dropped" not in err, out + err
    cleaned = load_record(cell_files(tmp_path / "cleaned")[0])
    assert "dropped" not in cleaned["dataset"]
    assert cleaned["dataset"]["num_samples"] == skipped["dataset"]["num_samples"]
    assert cleaned["dataset"]["fingerprint"] != skipped["dataset"]["fingerprint"]
    assert cleaned["cell"]["config_hash"] != skipped["cell"]["config_hash"]


def test_unknown_on_corrupt_value_is_a_config_error(
    tiny_folder_dataset: Callable[..., Path],
    write_run_config: Callable[..., Path],
    call_main: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    root = tiny_folder_dataset()
    config = write_run_config(root, dataset_options={"folder": {"root": str(root), "on_corrupt": "ignore"}})
    code, out, err = call_main("run", "-c", config, "--run-dir", tmp_path / "run", "-m", "majority")
    assert_one_clear_error(code, out, err, "dataset_options.folder: on_corrupt: Input should be 'error' or 'skip'")


def test_bad_seeds_value_is_a_usage_error(call_main: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    code, out, err = call_main("run", "--seeds", "0,x", "--run-dir", tmp_path / "run", "-m", "majority")
    assert code == 2
    assert "--seeds must be integers" in err
    assert "Traceback" not in out + err


def test_report_of_a_non_run_dir_is_a_clear_error(
    call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    code, out, err = call_main("report", tmp_path)
    assert_one_clear_error(code, out, err, f"{tmp_path} is not a run directory")


# -- rich markup must never touch user text ------------------------------------------------------


def test_error_message_keeps_square_brackets(
    write_run_config: Callable[..., Path], call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    missing = tmp_path / "scans [v2]"
    config = write_run_config(missing)
    code, out, err = call_main("run", "-c", config, "--run-dir", tmp_path / "run", "-m", "majority")
    assert_one_clear_error(code, out, err, f"dataset directory not found: {missing}")


def test_failure_message_with_brackets_does_not_abort_the_run(
    tiny_folder_dataset: Callable[..., Path],
    write_run_config: Callable[..., Path],
    call_main: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    config = write_run_config(tiny_folder_dataset(), tasks=["multiclass"])
    run_dir = tmp_path / "run"
    code, _out, err = call_main(
        "run", "-c", config, "--run-dir", run_dir, "-m", "toy-bracket-error,majority", "--plugin", TOY_PLUGIN
    )
    assert code == 1
    message = "cannot load [/] weights: key [fc.weight] missing"
    assert err.count(message) == 2  # the progress line and the closing list of failures
    assert sorted(load_record(p)["status"] for p in cell_files(run_dir)) == ["failed", "ok"]


def test_yaml_config_is_used(
    tiny_folder_dataset: Callable[..., Path],
    write_run_config: Callable[..., Path],
    call_main: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    config = write_run_config(tiny_folder_dataset(), tasks=["multiclass"], seeds=[3])
    run_dir = tmp_path / "run"
    code, _out, err = call_main("run", "-c", config, "--run-dir", run_dir, "-m", "majority")
    assert code == 0, err
    [record] = [load_record(p) for p in cell_files(run_dir)]
    assert record["cell"]["seed"] == 3 and record["cell"]["task"] == "multiclass"
    saved = json.loads((run_dir / "config.json").read_text())["config"]
    assert saved["seeds"] == [3] and yaml.safe_load(config.read_text())["seeds"] == [3]
