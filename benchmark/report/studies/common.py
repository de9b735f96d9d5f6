"""What the studies share: the metric a record is scored by, values per seed, a t-interval over seeds."""

from __future__ import annotations

import math
import statistics as pystats
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from asebench.api.records import CellRecord
from asebench.report.aggregate import ANOMALY_CAPABILITY, number

METRIC_LABELS = {"image_auroc": "I-AUROC", "macro_f1": "macro-F1"}


def protocol_of(record: CellRecord) -> str:
    return str((record.get("split") or {}).get("protocol") or "holdout")


def is_detector(record: CellRecord) -> bool:
    return ANOMALY_CAPABILITY in (record["method"].get("capabilities") or [])


def headline(record: CellRecord) -> tuple[str, float | None]:
    """Image AUROC for anomaly detectors (their papers' number), macro-F1 for classifiers."""
    if is_detector(record):
        return "image_auroc", number((record.get("anomaly_metrics") or {}).get("image_auroc"))
    return "macro_f1", number((record.get("metrics") or {}).get("macro_f1"))


def per_seed(records: Iterable[CellRecord], read: Callable[[CellRecord], float | None]) -> list[float]:
    """One value per seed: the mean over that seed's cells (folds, or categories: each counts once)."""
    by_seed: dict[int, list[float]] = defaultdict(list)
    for record in records:
        value = read(record)
        if value is not None:
            by_seed[int(record["cell"]["seed"])].append(value)
    return [pystats.fmean(by_seed[seed]) for seed in sorted(by_seed)]


@dataclass(frozen=True)
class SeedSummary:
    """Mean over seeds with Student's t-interval (None with one seed: there is no spread to show)."""

    seeds: int
    mean: float
    std: float | None
    low: float | None
    high: float | None


def summarise(values: list[float], confidence: float = 0.95) -> SeedSummary | None:
    if not values:
        return None
    mean = pystats.fmean(values)
    if len(values) < 2:
        return SeedSummary(1, mean, None, None, None)
    from scipy import stats

    std = pystats.stdev(values)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=len(values) - 1)) * std / math.sqrt(len(values))
    return SeedSummary(len(values), mean, std, mean - half, mean + half)


def interval_text(summary: SeedSummary) -> str:
    if summary.low is None or summary.high is None:
        return "one seed"
    return f"[{summary.low:.3f}, {summary.high:.3f}]"
