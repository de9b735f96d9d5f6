"""The accuracy-against-latency figure of the efficiency section, with the Pareto front marked.

One figure per (dataset, task); a panel per accuracy metric (macro-F1 for
classifiers, image AUROC for anomaly detectors: they are not on one scale).
x: milliseconds per image at the method's batch on a log axis, with caches
emptied where the record has the cold-cache pass (so a method that reads cached
features does not look free), else warm. Drawn like :mod:`asebench.report.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from asebench.report.aggregate import MethodCells, by_dataset_task, task_rank
from asebench.report.figures import FigureFile, _colours, _figure, _save, _stem
from asebench.report.sections.efficiency import EfficiencyRow, efficiency_rows

METRIC_NAMES = {"macro_f1": "macro-F1 (classifiers)", "image_auroc": "image AUROC (anomaly detectors)"}
Point = tuple[float, float, str]


def latency_of(row: EfficiencyRow) -> float | None:
    """The x value: cold-cache ms per image when measured, else the warm one at the method's batch."""
    cold, warm = row.values.get("cold_ms"), row.values.get("batch_median_ms")
    value = cold if cold is not None else warm
    return float(value) if value is not None and value > 0 else None


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats on both axes (faster or as fast, and at least as accurate), by latency."""
    front: list[Point] = []
    for point in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or point[1] > front[-1][1]:
            front.append(point)
    return front


def efficiency_figure(dataset: str, task: str, rows: Sequence[EfficiencyRow], folder: Path) -> FigureFile | None:
    """Accuracy against ms per image (log x), one panel per accuracy metric; None when nothing was measured."""
    panels: dict[str, list[Point]] = {}
    for row in rows:
        x, y = latency_of(row), row.values.get("accuracy")
        if x is not None and y is not None:
            panels.setdefault(row.accuracy_metric, []).append((x, float(y), row.method))
    if not panels:
        return None
    from matplotlib.ticker import FuncFormatter

    figure = _figure(5.6 * len(panels) + 0.4, 4.2)
    axes = figure.subplots(1, len(panels), squeeze=False).ravel()
    for ax, (metric, points) in zip(axes, sorted(panels.items()), strict=True):
        front = pareto_front(points)
        colours = _colours(len(points))
        for index, (x, y, method) in enumerate(sorted(points, key=lambda p: p[2])):
            on_front = (x, y, method) in front
            ax.scatter(
                x,
                y,
                s=46 if on_front else 26,
                color=colours[index],
                edgecolors="black" if on_front else "none",
                zorder=3,
            )
            ax.annotate(method, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7)
        right = max(p[0] for p in points) * 1.5  # the front runs on to the slowest method: nothing right of it beats it
        xs, ys = [p[0] for p in front] + [right], [p[1] for p in front] + [front[-1][1]]
        ax.step(xs, ys, where="post", color="tab:red", linewidth=1.2, label="Pareto front", zorder=2)
        ax.set_xscale("log")
        ax.margins(x=0.12, y=0.12)
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        ax.xaxis.set_major_formatter(plain)
        low, high = ax.get_xlim()
        if high / low < 100:  # minor labels only while they fit: over several decades they overprint each other
            ax.xaxis.set_minor_formatter(plain)
            ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel("ms per image at the method's batch (log scale)")
        ax.set_ylabel(METRIC_NAMES.get(metric, metric))
        ax.set_title(f"{len(points)} method(s), {len(front)} on the Pareto front", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="best")
    title = f"Accuracy against latency — {dataset} {task}"
    caption = (
        "x: milliseconds per image at the method's batch with its caches emptied (warm where the cold pass is missing), "
        "log scale; y: mean over cells. Ringed points and the red step line: the Pareto front (no method is both "
        "faster and more accurate)."
    )
    return _save(figure, folder, _stem("efficiency", dataset, task), title, caption)


def efficiency_figures(groups: Sequence[MethodCells], folder: Path) -> list[FigureFile]:
    """One accuracy-against-latency figure per (dataset, task) with measured methods."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        return []
    figures = []
    for (dataset, task), members in sorted(
        by_dataset_task(groups).items(), key=lambda kv: (kv[0][0], task_rank(kv[0][1]))
    ):
        figure = efficiency_figure(dataset, task, [r for r in efficiency_rows(members) if r.cells], folder)
        if figure is not None:
            figures.append(figure)
    return figures
