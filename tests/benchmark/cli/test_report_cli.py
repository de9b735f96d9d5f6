"""``asebench report`` and ``asebench tables`` end to end on a small run made by the runner."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from asebench.run.config import RunConfig
from asebench.run.runner import run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REPORT_PLUGIN = str(FIXTURES / "report_methods.py")
COUNTS = {"normal": 24, "type1": 12, "type2": 5}  # type2 is a tail class (few training images)
TABLE_FILES = [
    f"{key}.{fmt}" for key in ("main", "significance", "per_class", "tail", "ablation") for fmt in ("md", "csv", "tex")
]
FIGURE_KINDS = ("macro_f1_ci", "per_class_f1", "confusion", "tsne")


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory, tiny_folder_writer: Callable[..., Path]) -> RunConfig:
    """majority, a toy method with learned features, and two 'paper' variants; seeds 0 and 1."""
    base = tmp_path_factory.mktemp("report-run")
    root = tiny_folder_writer(base / "data", COUNTS)
    config = RunConfig(
        methods=["majority", "toy-features", "toy-paper", "toy-paper-noisy"],
        datasets=["folder"],
        dataset_options={"folder": {"root": str(root)}},
        custom_methods={"toy-paper-noisy": {"base": "toy-paper", "options": {"noise": 0.5}}},
        seeds=[0, 1],
        device="cpu",
        run_dir=base / "run",
        bootstrap={"samples": 20},
        plugins=[REPORT_PLUGIN],
    )
    outcome = run(config)
    assert not outcome.failed
    return config


class LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append((tag, name, value))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_report_writes_every_table_figure_and_a_self_contained_page(
    report_run: RunConfig, run_cli: Callable[..., Any]
) -> None:
    run_dir = report_run.run_dir
    record = json.loads(next((run_dir / "cells").glob("*toy-features__s0*.json")).read_text())
    assert record["artifacts"]["features"]  # the t-SNE input exists in the run

    result = run_cli("report", run_dir, "--bootstrap-samples", "200")
    assert result.returncode == 0, result.stderr
    folder = run_dir / "report"
    for name in [*TABLE_FILES, "report.md", "report.html"]:
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    assert not (folder / "anomaly.md").exists()  # no record carries anomaly metrics
    for task in ("binary", "multiclass"):
        for kind in FIGURE_KINDS:
            for suffix in ("png", "pdf"):
                path = folder / "figures" / f"{kind}__folder__{task}.{suffix}"
                assert path.is_file(), path
                assert path.read_bytes()[:4] == (b"\x89PNG" if suffix == "png" else b"%PDF")
    assert (run_dir / "summary.md").is_file()  # the summaries are rebuilt as before

    page = (folder / "report.html").read_text(encoding="utf-8")
    collector = LinkCollector()
    collector.feed(page)
    images = [value for tag, name, value in collector.links if tag == "img"]
    # + the critical-difference diagram (two tasks = two blocks) + accuracy against latency per task
    assert len(images) == 2 * len(FIGURE_KINDS) + 1 + 2
    assert (folder / "figures" / "cd_diagram.png").is_file()
    assert all(value.startswith("data:image/png;base64,") for value in images)
    assert all(value.startswith("#") for tag, name, value in collector.links if name == "href")
    assert "<link" not in page and "<script" not in page and "@import" not in page and "url(" not in page
    for heading in ("Main results", "Significance", "Per class", "Tail analysis", "Ablation", "Method", "McNemar"):
        assert heading in page

    main = read_csv(folder / "main.csv")
    assert {(r["task"], r["method"]) for r in main} == {
        (t, m) for t in ("binary", "multiclass") for m in ("majority", "toy-features", "toy-paper", "toy-paper-noisy")
    }
    assert all(r["cells"] == "2" and float(r["ci_low"]) <= float(r["macro_f1_mean"]) + 1e-9 for r in main)
    md = (folder / "main.md").read_text(encoding="utf-8")
    assert (
        "| dataset | method | family | seeds | binary macro-F1 | binary 95% CI | multiclass macro-F1 | multiclass 95% CI |"
        in md
    )
    tex = (folder / "main.tex").read_text(encoding="utf-8")
    assert "\\toprule" in tex and "\\textbf{" in tex
    ablation = (folder / "ablation.md").read_text(encoding="utf-8")
    assert "| dataset | variant | noise |" in ablation
    per_class = read_csv(folder / "per_class.csv")
    multiclass = [r["class"] for r in per_class if r["task"] == "multiclass" and r["method"] == "majority"]
    assert multiclass == ["normal", "type1", "type2"]


def test_report_merges_directories_and_honours_reference_formats_and_anomaly_metrics(
    report_run: RunConfig, call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    first, second = tmp_path / "seed0", tmp_path / "seed1"
    for target, seed in ((first, 0), (second, 1)):
        (target / "cells").mkdir(parents=True)
        for path in (report_run.run_dir / "cells").glob(f"*__s{seed}_f0__*"):
            shutil.copy(path, target / "cells" / path.name)
    anomalous = next((first / "cells").glob("*multiclass__toy-features__*.json"))
    record = json.loads(anomalous.read_text())
    record["anomaly_metrics"] = {"image_auroc": 0.91, "pixel_pro": 0.55, "notes": []}
    anomalous.write_text(json.dumps(record))
    out = tmp_path / "merged"

    code, _, err = call_main(
        "report", first, second, "--out", out, "--reference", "majority", "--formats", "md,csv", "--no-plots"
    )
    assert code == 0, err
    folder = out / "report"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            f"{k}.{f}"
            for k in ("main", "significance", "per_class", "tail", "ablation", "anomaly", "ranking", "efficiency")
            for f in ("md", "csv")
        ]
        + ["report.md"]
    )
    significance = read_csv(folder / "significance.csv")
    assert {r["reference"] for r in significance} == {"majority"}
    assert all(r["paired_cells"] == "2" for r in significance)  # seeds 0 and 1 from two directories pair up
    anomaly = read_csv(folder / "anomaly.csv")
    assert [(r["method"], r["image_auroc_mean"], r["pixel_pro_mean"]) for r in anomaly] == [
        ("toy-features", "0.910000", "0.550000")
    ]
    assert (
        "t-SNE"
        not in (folder / "report.md").read_text(encoding="utf-8").split("## Method")[0].split("## Learned features")[0]
    )


def test_report_rejects_an_unknown_format(
    report_run: RunConfig, call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    code, _, err = call_main("report", report_run.run_dir, "--out", tmp_path, "--formats", "md,docx")
    assert code == 2
    assert "docx" in err and "md, csv, tex, html" in err
    assert not (tmp_path / "report").exists()


def test_paper_tables_regenerate_and_check(
    report_run: RunConfig, call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    out = tmp_path / "tables"
    code, _, err = call_main("tables", "--paper", report_run.run_dir, "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{k}.{f}" for k in ("main", "per_class_f1", "ablation") for f in ("md", "csv", "tex")
    )
    main = (out / "main.md").read_text(encoding="utf-8")
    assert (
        main.index("**Baselines**") < main.index("| majority |") < main.index("**Ours**") < main.index("| toy-paper |")
    )
    assert str(tmp_path) not in main  # no paths in committed tables
    code, out_text, err = call_main("tables", "--paper", report_run.run_dir, "--out", out, "--check")
    assert code == 0, err
    assert "match" in out_text
    (out / "main.tex").write_text("tampered\n")
    code, _, err = call_main("tables", "--paper", report_run.run_dir, "--out", out, "--check")
    assert code == 1 and "main.tex" in err
    code, _, err = call_main("tables", report_run.run_dir)
    assert code == 2 and "--paper" in err


def test_report_explains_cells_without_numbers(
    report_run: RunConfig, call_main: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    data_root = Path(report_run.dataset_options["folder"]["root"])
    config = report_run.model_copy(
        update={
            "methods": ["majority", "toy-fails", "toy-unavailable"],
            "seeds": [0],
            "run_dir": tmp_path / "run",
            "plugins": [str(FIXTURES / "toy_methods.py")],
            "custom_methods": {},
            "dataset_options": {"folder": {"root": str(data_root)}},
        }
    )
    run(config)
    code, _, err = call_main("report", config.run_dir, "--formats", "md,html", "--no-plots")
    assert code == 0, err
    main = (config.run_dir / "report" / "main.md").read_text(encoding="utf-8")
    assert "| toy-fails | toy | 0 | failed | – |" in main
    assert "| toy-unavailable | toy | 0 | skipped | – |" in main
    assert "toy-fails on folder (failed): toy-fails: deliberate failure in fit" in main
    significance = (config.run_dir / "report" / "significance.md").read_text(encoding="utf-8")
    assert "toy-fails" not in significance and "(reference)" in significance
    assert significance.count("(reference)") == 2  # majority is the only method with numbers, per task
