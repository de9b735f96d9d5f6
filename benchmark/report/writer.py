"""Writing a report directory from stored records: tables in every format, figures, one HTML page.

Layout of ``<out>/report/``::

    main.{md,csv,tex}          methods x tasks: macro-F1 mean ± std, bootstrap CI, † marks
    significance.{md,csv,tex}  paired bootstrap, McNemar and seed tests against the reference (Holm-corrected)
    anomaly_significance.*     DeLong's paired test of image AUROC against the reference detector (Holm-corrected)
    ranking.{md,csv,tex}       average ranks across blocks, Friedman's test, Nemenyi's critical difference
    per_class.{md,csv,tex}     precision/recall/F1/support per class (training-frequency order)
    tail.{md,csv,tex}          head/medium/tail macro-F1 and worst classes with their confusion partner
    anomaly.{md,csv,tex}       only when records of drawn splits (holdout, k-fold) carry anomaly_metrics
    anomaly_categories.*       per category (official / transfer protocols): categories + mean per method
    ablation.{md,csv,tex}      only when records of a proposed method (the paper model) exist
    efficiency.{md,csv,tex}    per-image latency, training time, parameters, FLOPs, memory (records' efficiency)
    kshot.{md,csv,tex}         metric against K shots per method family, t-interval over seeds (+ figure)
    prompts.{md,csv,tex}       prompt variants of CLIP methods against their default variant
    transfer.{md,csv,tex}      train dataset x test dataset image AUROC (transfer protocol, in-domain diagonal)
    report.md                  every Markdown table, figure links and the method notes
    report.html                the same, self-contained (inline CSS, base64 figures)
    figures/*.png, *.pdf       macro-F1 CIs, per-class F1, confusion matrices, t-SNE, cd_diagram, accuracy vs latency,
                               metric vs K

Files from an earlier report that this one would not write are removed, so
the folder always describes the records it was built from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asebench.api.errors import ResultsError
from asebench.api.records import CellRecord
from asebench.report.aggregate import MethodCells, ReportSettings, group_records, pooled_interval
from asebench.report.comparisons import Comparison, compare, compare_anomaly
from asebench.report.figures import FigureFile, feature_loader, write_figures
from asebench.report.html import Section, render_page
from asebench.report.sections.ablation import ablation_table
from asebench.report.sections.anomaly import anomaly_category_table, anomaly_table
from asebench.report.sections.classes import per_class_table, tail_table
from asebench.report.sections.efficiency import efficiency_table
from asebench.report.sections.efficiency_figure import efficiency_figures
from asebench.report.sections.main import main_table
from asebench.report.sections.method_notes import method_paragraphs
from asebench.report.sections.ranking import Ranking, cd_figure, ranking_table, rankings
from asebench.report.sections.significance import anomaly_significance_table, significance_table
from asebench.report.studies import kshot, prompts, transfer
from asebench.report.studies.kshot_figure import kshot_figures
from asebench.report.tables import Table, table_csv, to_latex, to_markdown
from asebench.scoring.bootstrap import Interval
from asebench.store.atomic import atomic_write_text

FORMATS = ("md", "csv", "tex", "html")
TABLE_KEYS = (
    "main",
    "significance",
    "anomaly_significance",
    "ranking",
    "per_class",
    "tail",
    "anomaly",
    "anomaly_categories",
    "ablation",
    "efficiency",
    "kshot",
    "prompts",
    "transfer",
)

# the comparison studies: always a section, saying what the records lack when there is no table
STUDIES = (
    ("kshot", "K-shot curves", kshot.ABSENT),
    ("prompts", "Prompt ablation", prompts.ABSENT),
    ("transfer", "Cross-dataset transfer", transfer.ABSENT),
)


@dataclass
class ReportContent:
    """Everything a report shows, before it is written anywhere."""

    groups: list[MethodCells]
    comparisons: list[Comparison]
    intervals: dict[tuple[str, str, str], Interval | None]
    tables: list[Table]
    rankings: list[Ranking] = field(default_factory=list)


@dataclass
class ReportOutput:
    """What :func:`write_report` wrote."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_formats(text: str) -> tuple[str, ...]:
    """``"md,csv"`` -> ``("md", "csv")``; unknown names are an error naming the valid ones."""
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ResultsError(
            f"unknown report format(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}"
        )
    return chosen


def build_content(records: Sequence[CellRecord], settings: ReportSettings) -> ReportContent:
    """Group records, compute intervals and comparisons, and build every table."""
    groups = group_records(records)
    if not groups:
        raise ResultsError("no cell records to report on")
    intervals = {(g.dataset, g.task, g.method): pooled_interval(g, settings) for g in groups if g.ok}
    comparisons = compare(groups, settings)
    ranked = rankings(groups, settings.alpha)
    tables = [
        main_table(groups, comparisons, intervals, settings),
        significance_table(comparisons, settings),
        anomaly_significance_table(compare_anomaly(groups, settings), settings),
        ranking_table(ranked),
        per_class_table(groups),
        tail_table(groups),
        anomaly_table(groups),
        anomaly_category_table(groups),
        ablation_table(groups),
        efficiency_table(groups),
        kshot.kshot_table(groups),
        prompts.prompt_table(groups),
        transfer.transfer_table(groups),
    ]
    return ReportContent(groups, comparisons, intervals, [t for t in tables if t is not None], ranked)


def _clean(folder: Path) -> None:
    """Remove files an earlier report wrote (never anything else)."""
    names = [f"{key}.{fmt}" for key in TABLE_KEYS for fmt in ("md", "csv", "tex")] + ["report.md", "report.html"]
    for name in names:
        (folder / name).unlink(missing_ok=True)
    figures = folder / "figures"
    if figures.is_dir():
        for path in [*figures.glob("*.png"), *figures.glob("*.pdf")]:
            path.unlink()


def write_report(
    records: Sequence[CellRecord],
    run_dirs: Sequence[Path],
    out: Path,
    settings: ReportSettings | None = None,
    formats: Sequence[str] = FORMATS,
    plots: bool = True,
) -> ReportOutput:
    """Write ``<out>/report/`` from ``records`` (features are looked up in ``run_dirs``)."""
    settings = settings or ReportSettings()
    content = build_content(records, settings)
    folder = Path(out) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    _clean(folder)
    output = ReportOutput(folder=folder, tables=content.tables)
    writers = {"md": to_markdown, "csv": table_csv, "tex": to_latex}
    for table in content.tables:
        for fmt in formats:
            if fmt in writers:
                output.files.append(_write(folder / f"{table.key}.{fmt}", writers[fmt](table)))
    if plots:
        output.figures, output.notes = write_figures(
            content.groups, content.intervals, feature_loader(run_dirs), folder / "figures"
        )
        drawn = bool(output.figures) or not any("matplotlib is not installed" in n for n in output.notes)
        cd = cd_figure(content.rankings, folder / "figures") if drawn else None
        output.figures += [cd] if cd is not None else []
        output.figures += efficiency_figures(content.groups, folder / "figures")
        output.figures += kshot_figures(content.groups, folder / "figures")
        output.files += [path for figure in output.figures for path in (figure.png, figure.pdf)]
    else:
        output.notes.append("figures not drawn (--no-plots)")
    sections = _sections(content, output, settings)
    if "md" in formats:
        output.files.append(_write(folder / "report.md", _markdown_page(sections, run_dirs, len(records))))
    if "html" in formats:
        page = render_page("asebench report", _meta(content, run_dirs, len(records)), sections)
        output.files.append(_write(folder / "report.html", page))
    return output


def _write(path: Path, text: str) -> Path:
    atomic_write_text(path, text)
    return path


def _meta(content: ReportContent, run_dirs: Sequence[Path], count: int) -> list[str]:
    datasets = sorted({g.dataset for g in content.groups})
    methods = sorted({g.method for g in content.groups})
    return [
        f"{count} cell record(s) from {', '.join(str(p) for p in run_dirs)}",
        f"datasets: {', '.join(datasets)}; methods: {', '.join(methods)}",
    ]


def _sections(content: ReportContent, output: ReportOutput, settings: ReportSettings) -> list[Section]:
    tables = {t.key: t for t in content.tables}
    kinds: dict[str, list[FigureFile]] = {}
    for figure in output.figures:
        kinds.setdefault(figure.stem.split("__")[0], []).append(figure)
    sections = [
        Section("main", "Main results", tables=[tables["main"]], figures=kinds.get("macro_f1_ci", [])),
        Section(
            "significance",
            "Significance",
            tables=[tables[key] for key in ("significance", "anomaly_significance") if key in tables],
        ),
        Section("ranking", "Ranking across datasets", tables=[tables["ranking"]], figures=kinds.get("cd_diagram", [])),
        Section("per-class", "Per class", tables=[tables["per_class"]], figures=kinds.get("per_class_f1", [])),
        Section("tail", "Tail analysis", tables=[tables["tail"]], figures=kinds.get("confusion", [])),
    ]
    tsne_notes = [n for n in output.notes if "t-SNE" in n or "features" in n]
    sections.append(Section("features", "Learned features (t-SNE)", figures=kinds.get("tsne", []), notes=tsne_notes))
    anomaly = [tables[key] for key in ("anomaly", "anomaly_categories") if key in tables]
    if anomaly:
        sections.append(Section("anomaly", "Anomaly metrics", tables=anomaly))
    if "ablation" in tables:
        sections.append(Section("ablation", "Ablation", tables=[tables["ablation"]]))
    if "efficiency" in tables:
        figures = kinds.get("efficiency", [])
        sections.append(Section("efficiency", "Efficiency", tables=[tables["efficiency"]], figures=figures))
    for key, title, absent in STUDIES:
        found = [tables[key]] if key in tables else []
        sections.append(Section(key, title, tables=found, figures=kinds.get(key, []), notes=[] if found else [absent]))
    other_notes = [n for n in output.notes if n not in tsne_notes]
    if other_notes:
        sections.append(Section("notes", "Notes", notes=other_notes))
    sections.append(Section("method", "Method", paragraphs=method_paragraphs(settings)))
    return sections


def _markdown_page(sections: Sequence[Section], run_dirs: Sequence[Path], count: int) -> str:
    parts = ["# asebench report\n", f"{count} cell record(s) from {', '.join(str(p) for p in run_dirs)}.\n"]
    for section in sections:
        parts.append(f"## {section.title}\n")
        parts += [p + "\n" for p in section.paragraphs]
        parts += [to_markdown(t) for t in section.tables]
        parts += [f"![{f.title}](figures/{f.png.name})\n" for f in section.figures]
        if section.notes:
            parts.append("".join(f"- {n}\n" for n in section.notes))
    return "\n".join(parts)
