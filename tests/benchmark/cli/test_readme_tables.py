"""``asebench run`` writes run.json; ``asebench tables --readme`` renders the README's quick-start blocks from a run.

The table block must be what ``asebench run`` printed, the rendering must not
depend on the terminal, ``--check`` must catch an edited number, and the
repository's own README must follow from the committed ``results/quickstart``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from asebench.cli.run_command import run_and_summarise
from asebench.cli.tables import summary_text
from asebench.report.sections.readme import MEASURED_BLOCK, TABLE_BLOCK, marker
from asebench.report.summary import summary_rows, summary_title
from asebench.run.config import RunConfig
from asebench.store.run_directory import merge_records

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
PLUGINS = [str(FIXTURES / "toy_methods.py"), str(FIXTURES / "report_methods.py")]
QUICKSTART = REPO_ROOT / "results" / "quickstart"
METHODS = ["majority", "toy-features", "toy-unavailable"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory, tiny_folder_writer: Callable[..., Path]) -> RunConfig:
    """A run like ``make run``'s, small: majority, a method with a features sidecar (.npy) and a skipped one."""
    base = tmp_path_factory.mktemp("quick-run")
    config = RunConfig(
        methods=METHODS,
        datasets=["folder"],
        dataset_options={"folder": {"root": str(tiny_folder_writer(base / "data"))}},
        device="cpu",
        run_dir=base / "run",
        bootstrap={"samples": 10},
        plugins=PLUGINS,
    )
    run_and_summarise(config)
    return config


def write_readme(path: Path) -> Path:
    path.write_text(
        "# project\n\nquick start:\n\n"
        f"{marker(TABLE_BLOCK, 'begin')}\nhand-typed\n{marker(TABLE_BLOCK, 'end')}\n\n"
        "## Measured\n\n"
        f"{marker(MEASURED_BLOCK, 'begin')}\n{marker(MEASURED_BLOCK, 'end')}\n\nthe rest\n",
        encoding="utf-8",
    )
    return path


def test_run_writes_run_json_with_wall_time_and_cell_counts_and_leaves_the_summaries_alone(
    quick_run: RunConfig,
) -> None:
    facts = json.loads((quick_run.run_dir / "run.json").read_text(encoding="utf-8"))
    assert set(facts) == {"started_at", "finished_at", "wall_s", "cells"}
    assert facts["started_at"] <= facts["finished_at"] and facts["wall_s"] >= 0
    assert facts["cells"] == {
        "total": 6,
        "computed": 6,
        "reused": 0,
        "from_cell_cache": 0,
        "ok": 4,
        "skipped": 2,
        "failed": 0,
    }
    results = json.loads((quick_run.run_dir / "results.json").read_text(encoding="utf-8"))
    assert (
        "wall_s" not in json.dumps(results["summary"])
        and "run.json" not in (quick_run.run_dir / "summary.md").read_text()
    )


def test_a_second_run_records_its_cells_as_reused(quick_run: RunConfig, tmp_path: Path) -> None:
    again = quick_run.model_copy(update={"run_dir": tmp_path / "run"})
    shutil.copytree(quick_run.run_dir, again.run_dir)
    run_and_summarise(again)
    facts = json.loads((again.run_dir / "run.json").read_text(encoding="utf-8"))
    assert facts["cells"]["computed"] == 0 and facts["cells"]["reused"] == 6


def test_the_table_block_is_what_asebench_run_printed(
    call_main: Callable[..., tuple[int, str, str]],
    write_run_config: Callable[..., Path],
    tiny_folder_dataset: Callable[..., Path],
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    config = write_run_config(tiny_folder_dataset(), methods=["majority", "toy-unavailable"], run_dir=str(run_dir))
    code, printed, err = call_main("run", "-c", config, "--plugin", PLUGINS[0])
    assert code == 0, err
    readme = write_readme(tmp_path / "README.md")
    code, _, err = call_main("tables", "--readme", "--run", run_dir, "--readme-file", readme)
    assert code == 0, err
    text = readme.read_text(encoding="utf-8")
    block = text.split(marker(TABLE_BLOCK, "begin") + "\n```text\n")[1].split("```\n" + marker(TABLE_BLOCK, "end"))[0]
    printed_lines = [line.rstrip() for line in printed.splitlines()]
    title = summary_title(summary_rows(merge_records([run_dir])))
    assert title == "macro-F1 (one seed: value [95% bootstrap CI over test samples])"
    start = printed_lines.index(title)
    assert block.splitlines() == printed_lines[start : start + len(block.splitlines())]
    assert "skipped: <method> needs the weights file" in block and "-- toy-unavailable" in block
    assert "hand-typed" not in text
    assert text.startswith("# project\n\nquick start:\n\n") and text.endswith("\n\nthe rest\n")
    assert "| cells | 4: 2 ok, 2 skipped, 0 failed (4 computed, 0 reused) |" in text


def test_the_rendering_does_not_depend_on_the_terminal(quick_run: RunConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = summary_rows(merge_records([quick_run.run_dir]))
    before = summary_text(rows)
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert summary_text(rows) == before
    assert "\x1b[" not in before and all(line == line.rstrip() for line in before.splitlines())
    assert max(map(len, before.splitlines())) <= 160


def test_check_passes_after_rendering_and_fails_with_a_diff_after_an_edit(
    quick_run: RunConfig, call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    readme = write_readme(tmp_path / "README.md")
    args = ("tables", "--readme", "--run", quick_run.run_dir, "--readme-file", readme)
    code, _, err = call_main(*args, "--check")
    assert code == 1 and "-hand-typed" in err
    assert "hand-typed" in readme.read_text(encoding="utf-8")  # --check writes nothing
    code, _, err = call_main(*args)
    assert code == 0, err
    code, out, err = call_main(*args, "--check")
    assert code == 0 and "matches" in out, err
    rendered = readme.read_text(encoding="utf-8")
    line = next(x for x in rendered.splitlines() if "majority" in x and "[" in x)
    edited = line.replace("[", "[0", 1)
    readme.write_text(rendered.replace(line, edited), encoding="utf-8")
    code, _, err = call_main(*args, "--check")
    assert code == 1
    assert f"-{edited}" in err and f"+{line}" in err and "asebench tables --readme" in err


def test_the_records_alone_give_the_blocks_and_the_report(
    quick_run: RunConfig, call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    """As committed in results/quickstart: cells/*.json without the .npy sidecars."""
    assert list((quick_run.run_dir / "cells").glob("*.npy")), "the fixture should write a sidecar"
    bare = tmp_path / "quickstart"
    shutil.copytree(quick_run.run_dir, bare, ignore=shutil.ignore_patterns("*.npy"))
    readmes = [write_readme(tmp_path / "full.md"), write_readme(tmp_path / "bare.md")]
    for run_dir, readme in zip((quick_run.run_dir, bare), readmes, strict=True):
        code, _, err = call_main("tables", "--readme", "--run", run_dir, "--readme-file", readme)
        assert code == 0, err
    assert readmes[0].read_text(encoding="utf-8") == readmes[1].read_text(encoding="utf-8")
    code, out, err = call_main("report", bare, "--out", tmp_path / "report", "--formats", "md")
    assert code == 0, err
    assert "toy-features on folder binary: features file" in out and "not found" in out  # says what is missing
    summary = (tmp_path / "report" / "summary.csv").read_text(encoding="utf-8")
    assert summary == (quick_run.run_dir / "summary.csv").read_text(encoding="utf-8")


def test_missing_markers_run_or_flag_are_clear_errors(
    quick_run: RunConfig, call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n", encoding="utf-8")
    code, _, err = call_main("tables", "--readme", "--run", quick_run.run_dir, "--readme-file", readme)
    assert code == 2 and "<!-- asebench:quickstart-table:begin -->" in err
    code, _, err = call_main("tables", "--readme", "--run", tmp_path / "nowhere", "--readme-file", readme)
    assert code == 2 and "no run at" in err
    code, _, err = call_main("tables", "--readme", "--paper", "--run", quick_run.run_dir)
    assert code == 2 and "--readme" in err


@pytest.mark.skipif(
    not (QUICKSTART / "cells").is_dir(),
    reason="results/quickstart is not committed yet (a copy of a `make run` directory, then `asebench tables --readme`)",
)
def test_the_repository_readme_follows_from_results_quickstart(call_main: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = call_main(
        "tables", "--readme", "--run", QUICKSTART, "--readme-file", REPO_ROOT / "README.md", "--check"
    )
    assert code == 0, f"{out}\n{err}\nrun `asebench tables --readme` and commit README.md"
