"""The K-shot line plot: one figure per (dataset, task), one panel per protocol and metric, a line per family.

x is ordinal (the K values present in the panel, ``full`` last), so 0, 1, 2,
4, 8 and full are evenly spaced; error bars are the t-interval over seeds where
there are several seeds. Drawn like :mod:`asebench.report.figures`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from asebench.report.aggregate import MethodCells
from asebench.report.figures import FigureFile, _colours, _figure, _save, _stem
from asebench.report.studies.common import METRIC_LABELS
from asebench.report.studies.kshot import FULL, KPoint, k_text, kshot_points


def kshot_figure(dataset: str, task: str, points: Sequence[KPoint], folder: Path) -> FigureFile | None:
    """Metric against K, a line per family; None without points."""
    panels: dict[tuple[str, str], list[KPoint]] = defaultdict(list)
    for point in points:
        panels[(point.protocol, point.metric)].append(point)
    if not panels:
        return None
    figure = _figure(5.2 * len(panels) + 0.4, 3.9)
    axes = figure.subplots(1, len(panels), squeeze=False).ravel()
    for ax, ((protocol, metric), members) in zip(axes, sorted(panels.items()), strict=True):
        ks = sorted({p.k for p in members}, key=lambda k: (k == FULL, k))
        position = {k: i for i, k in enumerate(ks)}
        families = sorted({p.family for p in members})
        for colour, family in zip(_colours(len(families)), families, strict=True):
            line = sorted((p for p in members if p.family == family), key=lambda p: position[p.k])
            xs = [position[p.k] for p in line]
            ys = [p.summary.mean for p in line]
            low = [p.summary.mean - (p.summary.low if p.summary.low is not None else p.summary.mean) for p in line]
            high = [(p.summary.high if p.summary.high is not None else p.summary.mean) - p.summary.mean for p in line]
            ax.errorbar(xs, ys, yerr=[low, high], marker="o", markersize=4, capsize=3, color=colour, label=family)
        ax.set_xticks(range(len(ks)), [k_text(k) for k in ks])
        ax.set_xlabel("K (shots; 0 = zero-shot, full = every training normal)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.set_title(f"{protocol} protocol", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    title = f"Metric against K — {dataset} {task}"
    caption = (
        "Mean over seeds of each family's metric at every K (x evenly spaced, not to scale); error bars: Student's "
        "t 95% interval over seeds (none with one seed)."
    )
    return _save(figure, folder, _stem("kshot", dataset, task), title, caption)


def kshot_figures(groups: Sequence[MethodCells], folder: Path) -> list[FigureFile]:
    """One K-shot figure per (dataset, task) with K-shot points; none without matplotlib."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        return []
    points, _ = kshot_points(groups)
    keys = list(dict.fromkeys((p.dataset, p.task) for p in points))  # points come in table order
    figures = []
    for dataset, task in keys:
        figure = kshot_figure(dataset, task, [p for p in points if (p.dataset, p.task) == (dataset, task)], folder)
        if figure is not None:
            figures.append(figure)
    return figures
