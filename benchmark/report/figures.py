"""Report figures (PNG and PDF) drawn from stored records with matplotlib's Agg backend.

One figure per (dataset, task) for each kind: normalised confusion matrices
(summed over seeds), per-class F1 bars (classes by training frequency), macro-F1
with bootstrap CI whiskers, and a t-SNE of learned test features for records
that stored a ``features`` artifact. Figures use matplotlib's object API (no
pyplot state) and strip timestamps from the files. matplotlib and scikit-learn
are imported inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asebench.api.records import CellRecord, safe
from asebench.report.aggregate import MethodCells, by_dataset_task, class_order, per_class, summed_confusion, task_rank
from asebench.scoring.bootstrap import Interval
from asebench.store.run_directory import RunDirectory

FeatureLoader = Callable[[CellRecord], "np.ndarray | None"]
_MAX_ANNOTATED_CLASSES = 12
_TSNE_MAX_POINTS = 2000
_TSNE_EXACT_BELOW = 400


@dataclass(frozen=True)
class FigureFile:
    """One written figure: its files and what it shows."""

    stem: str
    title: str
    caption: str
    png: Path
    pdf: Path


def feature_loader(run_dirs: Sequence[Path]) -> FeatureLoader:
    """Load a record's ``features`` sidecar from whichever run directory holds it (None if absent)."""
    directories = [RunDirectory(Path(d)) for d in run_dirs]

    def load(record: CellRecord) -> np.ndarray | None:
        name = (record.get("artifacts") or {}).get("features")
        if not name:
            return None
        for directory in directories:
            if (directory.cells_dir / name).is_file():
                return directory.read_array(name)
        return None

    return load


def _figure(width: float, height: float) -> Any:
    """A figure on its own Agg canvas (no pyplot, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, folder: Path, stem: str, title: str, caption: str) -> FigureFile:
    folder.mkdir(parents=True, exist_ok=True)
    png, pdf = folder / f"{stem}.png", folder / f"{stem}.pdf"
    figure.savefig(png, format="png", dpi=110, metadata={"Software": None})
    figure.savefig(pdf, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    return FigureFile(stem, title, caption, png, pdf)


def _grid(count: int, columns: int = 3) -> tuple[int, int]:
    cols = min(columns, max(1, count))
    return (count + cols - 1) // cols, cols


def _stem(kind: str, dataset: str, task: str) -> str:
    return f"{kind}__{safe(dataset)}__{task}"


def confusion_figure(dataset: str, task: str, groups: Sequence[MethodCells], folder: Path) -> FigureFile | None:
    """Row-normalised confusion matrix of every method (summed over seeds), classes by training frequency."""
    scored = [g for g in groups if g.ok]
    if not scored:
        return None
    order = class_order(scored[0])
    names = [scored[0].class_names[i] for i in order]
    k = len(names)
    rows, cols = _grid(len(scored))
    side = 1.2 + 0.42 * k
    figure = _figure(cols * side + 0.8, rows * side + 0.4)
    axes = np.atleast_1d(figure.subplots(rows, cols, squeeze=False)).ravel()
    image = None
    for ax, group in zip(axes, scored, strict=False):
        matrix = summed_confusion(group)
        assert matrix is not None
        matrix = matrix[np.ix_(order, order)].astype(float)
        totals = matrix.sum(axis=1, keepdims=True)
        normalised = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
        image = ax.imshow(normalised, vmin=0.0, vmax=1.0, cmap="Blues")
        if k <= _MAX_ANNOTATED_CLASSES:
            for i in range(k):
                for j in range(k):
                    value = normalised[i, j]
                    ax.text(
                        j,
                        i,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if value > 0.6 else "black",
                    )
        ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(k), names, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.set_title(f"{group.method}\nmacro-F1 {group.mean:.3f} ({len(group.ok)} cells)", fontsize=8)
    for ax in axes[len(scored) :]:
        ax.set_axis_off()
    if image is not None:
        figure.colorbar(
            image, ax=list(axes[: len(scored)]), shrink=0.8 if rows == 1 else 0.5, label="fraction of true class"
        )
    title = f"Confusion matrices — {dataset} {task}"
    caption = "Rows: true class (normalised to 1), columns: predicted; summed over seeds/folds; classes by training frequency."
    return _save(figure, folder, _stem("confusion", dataset, task), title, caption)


def per_class_f1_figure(dataset: str, task: str, groups: Sequence[MethodCells], folder: Path) -> FigureFile | None:
    """Grouped bars of per-class F1 (mean over seeds, std whiskers), classes by training frequency."""
    scored = sorted((g for g in groups if g.ok), key=lambda g: g.method)
    if not scored:
        return None
    reference = per_class(scored[0])
    names = [row.name for row in reference]
    labels = [f"{row.name}\n(n={row.train_count:.0f})" for row in reference]
    x = np.arange(len(names))
    width = 0.8 / len(scored)
    figure = _figure(min(14.0, max(5.0, len(names) * (0.5 + 0.06 * len(scored)) + 2.5)), 3.8)
    ax = figure.subplots()
    colours = _colours(len(scored))
    for m, group in enumerate(scored):
        rows = {row.name: row for row in per_class(group)}
        f1 = [rows[n].f1 if n in rows else 0.0 for n in names]
        std = [rows[n].f1_std if n in rows else 0.0 for n in names]
        err = [
            [min(s, v) for s, v in zip(std, f1, strict=True)],
            [min(s, 1.0 - v) for s, v in zip(std, f1, strict=True)],
        ]
        ax.bar(
            x - 0.4 + width * (m + 0.5),
            f1,
            width,
            yerr=err,
            capsize=2,
            label=group.method,
            color=colours[m],
            error_kw={"elinewidth": 0.8},
        )  # whiskers clipped to [0, 1]
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 (mean ± std over seeds)")
    ax.set_xlabel("class (training count), most frequent first")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    title = f"Per-class F1 — {dataset} {task}"
    caption = "Classes sorted by training frequency (descending); whiskers: std over seeds/folds, clipped to [0, 1]."
    return _save(figure, folder, _stem("per_class_f1", dataset, task), title, caption)


def _colours(count: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def macro_f1_figure(
    dataset: str,
    task: str,
    groups: Sequence[MethodCells],
    intervals: dict[tuple[str, str, str], Interval | None],
    folder: Path,
) -> FigureFile | None:
    """Mean macro-F1 per method with pooled bootstrap CI whiskers and the per-seed scores as dots."""
    scored = sorted((g for g in groups if g.ok), key=lambda g: (g.mean or 0.0, g.method))
    if not scored:
        return None
    figure = _figure(6.4, 0.9 + 0.42 * len(scored))
    ax = figure.subplots()
    for y, group in enumerate(scored):
        bounds = intervals.get((group.dataset, group.task, group.method))
        mean = group.mean or 0.0
        if bounds is not None:
            ax.errorbar(mean, y, xerr=[[mean - bounds.low], [bounds.high - mean]], fmt="o", color="tab:blue", capsize=4)
        else:
            ax.plot(mean, y, "o", color="tab:blue")
        ax.plot(group.scores, [y] * len(group.scores), "x", color="tab:gray", markersize=5)
    ax.set_yticks(range(len(scored)), [g.method for g in scored], fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("macro-F1")
    ax.grid(axis="x", alpha=0.3)
    title = f"Macro-F1 with confidence intervals — {dataset} {task}"
    caption = "Dots: mean over seeds/folds; whiskers: percentile bootstrap CI over test samples (pooled over seeds); crosses: single seeds."
    return _save(figure, folder, _stem("macro_f1_ci", dataset, task), title, caption)


def tsne_figure(
    dataset: str, task: str, groups: Sequence[MethodCells], load: FeatureLoader, folder: Path
) -> tuple[FigureFile | None, list[str]]:
    """t-SNE of stored test features (lowest seed per method), coloured by true class."""
    from sklearn.manifold import TSNE

    panels: list[tuple[MethodCells, CellRecord, np.ndarray]] = []
    notes: list[str] = []
    for group in sorted(groups, key=lambda g: g.method):
        for record in group.ok:  # records are in seed order: the first with features wins
            features = load(record)
            if features is None:
                if (record.get("artifacts") or {}).get("features"):
                    notes.append(
                        f"{group.method} on {dataset} {task}: features file {record['artifacts']['features']} not found"
                    )
                continue
            if features.ndim != 2 or len(features) != len(record["predictions"]["y_true"]):
                notes.append(
                    f"{group.method} on {dataset} {task}: features shape {features.shape} does not match the predictions"
                )
                continue
            if len(features) < 5:
                notes.append(f"{group.method} on {dataset} {task}: too few test samples for t-SNE")
                break
            panels.append((group, record, features))
            break
    if not panels:
        return None, notes
    rows, cols = _grid(len(panels))
    figure = _figure(cols * 4.0 + 1.2, rows * 3.6)
    axes = np.atleast_1d(figure.subplots(rows, cols, squeeze=False)).ravel()
    names = panels[0][0].class_names
    colours = _colours(len(names))
    for ax, (group, record, features) in zip(axes, panels, strict=False):
        truth = np.asarray(record["predictions"]["y_true"], dtype=np.int64)
        if len(features) > _TSNE_MAX_POINTS:  # a seeded subsample keeps large test sets tractable
            keep = np.sort(np.random.default_rng(0).choice(len(features), _TSNE_MAX_POINTS, replace=False))
            features, truth = features[keep], truth[keep]
        n = len(features)
        embedding = TSNE(
            n_components=2,
            perplexity=float(min(30.0, max(2.0, (n - 1) / 3.0))),
            init="pca",
            learning_rate="auto",
            random_state=0,
            max_iter=500,
            method="exact" if n <= _TSNE_EXACT_BELOW else "barnes_hut",  # exact is faster for small sets
        ).fit_transform(np.asarray(features, dtype=np.float64))
        for k, name in enumerate(names):
            chosen = truth == k
            if chosen.any():
                ax.scatter(embedding[chosen, 0], embedding[chosen, 1], s=10, color=colours[k], label=name)
        ax.set_title(f"{group.method} (seed {record['cell']['seed']}, {n} test samples)", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", fontsize=7, title="true class", title_fontsize=7)
    title = f"t-SNE of learned test features — {dataset} {task}"
    caption = (
        "2-D t-SNE (scikit-learn, PCA init, 500 iterations, random_state 0) of each method's stored test features, "
        f"lowest seed (at most {_TSNE_MAX_POINTS} samples, seeded subsample); colour: true class."
    )
    return _save(figure, folder, _stem("tsne", dataset, task), title, caption), notes


def write_figures(
    groups: Sequence[MethodCells],
    intervals: dict[tuple[str, str, str], Interval | None],
    load_features: FeatureLoader,
    folder: Path,
) -> tuple[list[FigureFile], list[str]]:
    """Every figure of a report, in (dataset, task) order, and notes on what was skipped."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        return [], ["figures skipped: matplotlib is not installed (pip install 'matplotlib>=3.7')"]
    figures: list[FigureFile] = []
    notes: list[str] = []
    tsne_any = False
    for (dataset, task), members in sorted(
        by_dataset_task(groups).items(), key=lambda kv: (kv[0][0], task_rank(kv[0][1]))
    ):
        for figure in (
            macro_f1_figure(dataset, task, members, intervals, folder),
            per_class_f1_figure(dataset, task, members, folder),
            confusion_figure(dataset, task, members, folder),
        ):
            if figure is not None:
                figures.append(figure)
        tsne, tsne_notes = tsne_figure(dataset, task, members, load_features, folder)
        notes += tsne_notes
        if tsne is not None:
            figures.append(tsne)
            tsne_any = True
    if not tsne_any:
        notes.append("t-SNE skipped: no record has a learned-features artifact (artifacts.features).")
    return figures, notes
