"""Ranking methods across datasets and categories: average ranks, Friedman's test, the critical-difference diagram.

Two rankings, each a (blocks x methods) matrix (Demšar 2006):

* ``classification``: mean macro-F1 over seeds per block = (dataset, task,
  protocol[, category]), for classifiers (methods without stored anomaly scores);
* ``anomaly``: mean image AUROC over seeds per block = (dataset, task,
  protocol, category), a drawn split (holdout, k-fold) counting as one block.

Only methods with a value in every block are ranked (a missing value cannot be
ranked honestly); the table says which were left out and why. Fewer than two
methods or blocks: the table says so instead of testing.
"""

from __future__ import annotations

import statistics as pystats
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from asebench.api.records import CellRecord
from asebench.report.aggregate import MethodCells, number, task_rank
from asebench.report.anomaly_table import category_of, protocol_label
from asebench.report.figures import FigureFile, _figure, _save
from asebench.report.tables import Cell, Column, Table, fmt, p_value
from asebench.scoring.ranking import Friedman, average_ranks, cliques, critical_difference, friedman

Block = tuple[str, ...]
SCOPES = {"classification": "macro-F1", "anomaly": "image AUROC"}


@dataclass
class Ranking:
    """One ranking: the blocks, the ranked methods with their average ranks, the tests, and what was left out."""

    scope: str
    metric: str
    blocks: list[Block] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)  # ascending average rank
    ranks: list[float] = field(default_factory=list)
    means: list[float] = field(default_factory=list)
    test: Friedman | None = None
    cd: float | None = None
    alpha: float = 0.05
    left_out: list[str] = field(default_factory=list)
    message: str = ""  # why there is no test

    @property
    def tested(self) -> bool:
        return self.test is not None and self.cd is not None


def _value(record: CellRecord, scope: str) -> float | None:
    if scope == "classification":
        value = (record.get("metrics") or {}).get("macro_f1")
    else:
        value = (record.get("anomaly_metrics") or {}).get("image_auroc")
    return number(value)


def _block(group: MethodCells, record: CellRecord, scope: str) -> Block:
    category = category_of(record)
    base = (group.dataset, group.task, protocol_label(record))
    if scope == "anomaly":
        return (*base, category or "all")
    return base if category is None else (*base, category)


def block_values(groups: Sequence[MethodCells], scope: str) -> dict[str, dict[Block, float]]:
    """Per method and block: the mean over the block's cells (seeds) of the scope's metric."""
    cells: dict[str, dict[Block, list[float]]] = {}
    detectors = {
        g.method for g in groups for r in g.ok if (r.get("predictions") or {}).get("anomaly_scores") is not None
    }
    for group in groups:
        if scope == "classification" and group.method in detectors:
            continue  # ranked on image AUROC, not on the macro-F1 of a thresholded score
        for record in group.ok:
            value = _value(record, scope)
            if value is not None:
                cells.setdefault(group.method, {}).setdefault(_block(group, record, scope), []).append(value)
    return {m: {b: pystats.fmean(v) for b, v in blocks.items()} for m, blocks in cells.items()}


def rank_methods(groups: Sequence[MethodCells], scope: str, alpha: float = 0.05) -> Ranking:
    """Average ranks, Friedman's test and Nemenyi's CD of the methods that have a value in every block."""
    values = block_values(groups, scope)
    ranking = Ranking(scope, SCOPES[scope], alpha=alpha)
    blocks = sorted({b for per in values.values() for b in per}, key=lambda b: (b[0], task_rank(b[1]), *b[2:]))
    complete = sorted(m for m, per in values.items() if len(per) == len(blocks))
    for method in sorted(set(values) - set(complete)):
        missing = len(blocks) - len(values[method])
        ranking.left_out.append(f"{method}: no {ranking.metric} in {missing} of {len(blocks)} blocks")
    ranking.blocks = blocks
    if len(complete) < 2 or len(blocks) < 2:
        ranking.message = (
            f"no ranking test: {len(complete)} method(s) with a {ranking.metric} in each of {len(blocks)} block(s); "
            "Friedman's test needs at least 2 of each"
        )
        ranking.methods = complete
        ranking.means = [pystats.fmean(values[m].values()) for m in complete]
        return ranking
    matrix = np.array([[values[m][b] for m in complete] for b in blocks])
    mean_ranks = average_ranks(matrix)
    order = sorted(range(len(complete)), key=lambda j: (mean_ranks[j], complete[j]))
    ranking.methods = [complete[j] for j in order]
    ranking.ranks = [float(mean_ranks[j]) for j in order]
    ranking.means = [float(matrix[:, j].mean()) for j in order]
    ranking.test = friedman(matrix)
    ranking.cd = critical_difference(len(complete), len(blocks), alpha)
    return ranking


def rankings(groups: Sequence[MethodCells], alpha: float = 0.05) -> list[Ranking]:
    """Both rankings; the anomaly one only when some record has an image AUROC."""
    out = [rank_methods(groups, "classification", alpha)]
    if block_values(groups, "anomaly"):
        out.append(rank_methods(groups, "anomaly", alpha))
    return out


def ranking_table(found: Sequence[Ranking]) -> Table:
    """Average ranks per method (1 = best) with each scope's Friedman test and critical difference."""
    table = Table(
        key="ranking",
        title="Average ranks across datasets and categories (Friedman / Nemenyi)",
        columns=[
            Column("method"),
            Column("average rank", "r", "min"),
            Column("mean score", "r"),
            Column("blocks", "r"),
        ],
        caption=(
            "Methods ranked within each block (1 = best, ties share their mean rank), then averaged (Demšar 2006). "
            "Blocks: (dataset, task, protocol[, category]) for the macro-F1 of classifiers; (dataset, task, protocol, "
            "category) for the image AUROC of anomaly methods (records with stored anomaly scores); each block's value is the mean over seeds. Only methods with a value in every block are "
            "ranked. Friedman's chi-square (tie-corrected) and Iman-Davenport's F test equal ranks; two methods whose "
            "average ranks differ by less than the Nemenyi critical difference CD = q_alpha·sqrt(k(k+1)/(6N)) are "
            "not significantly different (joined by a bar in the critical-difference diagram)."
        ),
        data_columns=[
            "scope",
            "metric",
            "method",
            "average_rank",
            "mean_score",
            "blocks",
            "methods",
            "friedman_chi2",
            "friedman_p",
            "iman_davenport_f",
            "iman_davenport_p",
            "critical_difference",
            "alpha",
        ],
    )
    for ranking in found:
        table.section(
            f"{ranking.scope}: {ranking.metric}, {len(ranking.methods)} methods x {len(ranking.blocks)} blocks"
        )
        test = ranking.test
        shared = {
            "scope": ranking.scope,
            "metric": ranking.metric,
            "blocks": len(ranking.blocks),
            "methods": len(ranking.methods),
            "friedman_chi2": test.statistic if test else None,
            "friedman_p": test.p_value if test else None,
            "iman_davenport_f": test.iman_davenport if test else None,
            "iman_davenport_p": test.iman_davenport_p if test else None,
            "critical_difference": ranking.cd,
            "alpha": ranking.alpha,
        }
        for j, method in enumerate(ranking.methods):
            rank = ranking.ranks[j] if ranking.ranks else None
            table.add_row(
                [Cell(method), Cell(fmt(rank, 2), rank), Cell(fmt(ranking.means[j])), Cell(str(len(ranking.blocks)))],
                group=ranking.scope,
            )
            table.data_rows.append({**shared, "method": method, "average_rank": rank, "mean_score": ranking.means[j]})
        if test and ranking.cd is not None:
            f_text = "∞" if test.iman_davenport == float("inf") else fmt(test.iman_davenport, 2)
            table.notes.append(
                f"{ranking.scope}: Friedman chi2 = {test.statistic:.2f} (df {test.methods - 1}), "
                f"{_p(test.p_value)}; Iman-Davenport F = {f_text}, {_p(test.iman_davenport_p)}; "
                f"Nemenyi CD = {ranking.cd:.2f} at alpha = {ranking.alpha:g} (k = {test.methods}, N = {test.blocks})"
            )
        if ranking.message:
            table.notes.append(f"{ranking.scope}: {ranking.message}")
        table.notes += [f"{ranking.scope}: left out {text}" for text in ranking.left_out]
    return table


def _p(value: float | None) -> str:
    text = p_value(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def cd_figure(found: Sequence[Ranking], folder: Path) -> FigureFile | None:
    """Demšar's critical-difference diagram, one panel per tested ranking; None when nothing was tested."""
    tested = [r for r in found if r.tested]
    if not tested:
        return None
    heights = [1.2 + 0.28 * max(len(r.methods), 2) for r in tested]
    figure = _figure(7.6, sum(heights) + 0.3)
    axes = np.atleast_1d(figure.subplots(len(tested), 1, squeeze=False, height_ratios=heights)).ravel()
    for ax, ranking in zip(axes, tested, strict=True):
        _draw_cd(ax, ranking)
    title = "Critical-difference diagram"
    caption = (
        "Average rank of each method over the blocks (1 = best, left); methods joined by a thick bar are not "
        "significantly different (Nemenyi, average ranks closer than the critical difference CD shown above the axis; "
        "Demšar 2006). Only methods with a value in every block are ranked."
    )
    return _save(figure, folder, "cd_diagram", title, caption)


def _draw_cd(axis: Any, ranking: Ranking) -> None:
    """One panel: the rank axis on top, methods hanging from their average rank, clique bars below the axis."""
    k, cd = len(ranking.methods), float(ranking.cd or 0.0)
    half = (k + 1) // 2
    margin = 0.75 * (k - 1) + 0.5  # room for the labels on both sides of the rank axis
    axis.set_xlim(1 - margin, k + margin)
    axis.set_ylim(-(half + 1.5), 2.2)
    axis.set_axis_off()
    axis.hlines(0, 1, k, color="black", linewidth=1)
    for tick in range(1, k + 1):
        axis.vlines(tick, 0, 0.25, color="black", linewidth=1)
        axis.text(tick, 0.4, str(tick), ha="center", va="bottom", fontsize=8)
    axis.hlines(1.5, 1, 1 + cd, color="tab:red", linewidth=2)
    axis.vlines([1, 1 + cd], 1.35, 1.65, color="tab:red", linewidth=1)
    axis.text(1 + cd / 2, 1.7, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8, color="tab:red")
    test = ranking.test
    axis.set_title(
        f"{ranking.scope} ({ranking.metric}): {k} methods, {len(ranking.blocks)} blocks, "
        f"Friedman {_p(test.p_value if test else None)}",
        fontsize=9,
    )
    runs = cliques(ranking.ranks, cd)
    for level, (first, last) in enumerate(runs):
        y = -0.35 - 0.22 * level
        axis.hlines(y, ranking.ranks[first] - 0.03, ranking.ranks[last] + 0.03, color="black", linewidth=4)
    top = -0.35 - 0.22 * max(len(runs), 1) - 0.2
    for j, (method, rank) in enumerate(zip(ranking.methods, ranking.ranks, strict=True)):
        left = j < half
        row = j if left else k - 1 - j
        y = top - 0.75 * row
        x_text = 0.9 if left else k + 0.1
        axis.plot([rank, rank, x_text], [0, y, y], color="0.35", linewidth=0.8)
        label = f"{method} ({rank:.2f})" if left else f"({rank:.2f}) {method}"
        axis.text(x_text, y, label, ha="right" if left else "left", va="center", fontsize=8)
