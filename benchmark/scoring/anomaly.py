"""Image- and pixel-level anomaly metrics, computed by the runner from stored scores and maps.

Methods return anomaly scores (higher = more anomalous) and optionally pixel
maps; they never score themselves. :func:`anomaly_report` turns them into one
flat dict per cell (``record["anomaly_metrics"]``). Definitions:

* ``image_auroc`` / ``image_ap``: scikit-learn ``roc_auc_score`` /
  ``average_precision_score`` of defect (positive) vs normal.
* ``image_f1_max``: the largest F1 over all thresholds of the precision-recall
  curve (the "F1-max" of the WinCLIP / MuSc tables), with the threshold that
  reaches it in ``image_f1_max_threshold``.
* ``pixel_auroc`` / ``pixel_ap`` / ``pixel_f1_max``: the same over every pixel
  of every test image that has ground truth, pooled (the MVTec convention);
  computed from one sort of all pixels with scikit-learn's curve definitions
  (see :class:`PixelCurves`; equal to scikit-learn to 1e-9 in the tests).
* ``pixel_pro``: the MVTec AD per-region overlap, integrated over FPR in
  [0, ``PRO_FPR_LIMIT``] and divided by the limit. Regions are the 8-connected
  components (``scipy.ndimage.label`` with a 3x3 structure, as in MVTec's
  evaluation code) of each ground-truth mask; the curve is computed exactly at
  every distinct score, the FPR is over all normal pixels of all images, and
  the area is a trapezoid sum with linear interpolation at the limit.

Masks and maps: pixel metrics are computed at the resolution of the maps
(the method's output, e.g. 240 px for WinCLIP), as the published tables do;
each ground-truth mask is resized to its map's size with nearest-neighbour
sampling (PIL ``NEAREST``), never interpolated, so it stays binary and a
pixel is defective only where the original mask says so. A normal image
without a mask gets an all-zero mask. A *defective* image without a mask
cannot be scored pixel-wise and is left out of the pixel metrics (counted and
noted). Undefined metrics (a test set with one class, no masks) are ``None``
with a note; this function never raises on data it is given, because it runs
after the method has finished and a metric problem must not lose the cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PRO_FPR_LIMIT = 0.3
PRO_STRUCTURE = np.ones((3, 3), dtype=int)  # 8-connectivity, as MVTec's reference code

METRIC_KEYS = (
    "image_auroc",
    "image_ap",
    "image_f1_max",
    "pixel_auroc",
    "pixel_ap",
    "pixel_f1_max",
    "pixel_pro",
)


def anomaly_report(
    is_anomalous: np.ndarray,
    scores: np.ndarray,
    maps: np.ndarray | None = None,
    masks: Sequence[np.ndarray | None] | None = None,
) -> dict[str, Any]:
    """All image- and pixel-level metrics of one cell as a flat, JSON-ready dict (see module doc)."""
    labels = np.asarray(is_anomalous, dtype=bool).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    notes: list[str] = []
    report: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
    report.update(
        image_f1_max_threshold=None,
        pro_fpr_limit=PRO_FPR_LIMIT,
        num_images=int(labels.size),
        num_anomalous=int(labels.sum()),
        num_pixel_images=0,
        notes=notes,
    )
    if scores.shape != labels.shape:
        notes.append(f"{scores.size} anomaly scores for {labels.size} test images: no metrics")
        return report
    if not np.isfinite(scores).all():
        notes.append("non-finite anomaly scores: no metrics")
        return report
    report.update(image_metrics(labels, scores, notes))
    if maps is None:
        return report
    if masks is None or all(m is None for m in masks):
        notes.append("no ground-truth masks: pixel metrics undefined")
        return report
    report.update(pixel_metrics(labels, np.asarray(maps), masks, notes))
    return report


def image_metrics(labels: np.ndarray, scores: np.ndarray, notes: list[str]) -> dict[str, Any]:
    """AUROC, AP and F1-max of image scores; None (with a note) when only one class is present."""
    if labels.all() or not labels.any():
        which = "defective" if labels.any() else "normal"
        notes.append(f"test set holds only {which} images: image AUROC/AP/F1-max undefined")
        return {}
    from sklearn.metrics import roc_auc_score

    f1, threshold, ap = f1_max_and_ap(labels, scores)
    return {
        "image_auroc": float(roc_auc_score(labels, scores)),
        "image_ap": ap,
        "image_f1_max": f1,
        "image_f1_max_threshold": threshold,
    }


def f1_max_and_ap(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float, float]:
    """(max F1 over PR-curve thresholds, the threshold reaching it, average precision).

    One ``precision_recall_curve`` call gives both; AP is scikit-learn's
    step-wise definition, identical to ``average_precision_score``.
    """
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1[:-1])) if len(thresholds) else 0  # the last PR point has no threshold
    ap = float(-np.sum(np.diff(recall) * precision[:-1]))
    return float(f1[best]), float(thresholds[best]) if len(thresholds) else float("nan"), ap


def pixel_metrics(
    labels: np.ndarray, maps: np.ndarray, masks: Sequence[np.ndarray | None], notes: list[str]
) -> dict[str, Any]:
    """Pixel AUROC, AP, F1-max and PRO over images that have (or may be given) ground truth."""
    if maps.ndim != 3 or len(maps) != len(labels) or len(masks) != len(labels):
        notes.append(
            f"anomaly maps {maps.shape} / {len(masks)} masks do not match {len(labels)} images: no pixel metrics"
        )
        return {}
    if not np.isfinite(maps).all():
        notes.append("non-finite anomaly maps: no pixel metrics")
        return {}
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    unmasked_defects = 0
    for label, amap, mask in zip(labels, maps, masks, strict=True):
        if mask is None and label:
            unmasked_defects += 1
            continue
        truth = np.zeros(amap.shape, dtype=bool) if mask is None else resize_mask(np.asarray(mask), amap.shape)
        pairs.append((np.asarray(amap, dtype=np.float32), truth))
    if unmasked_defects:
        notes.append(f"{unmasked_defects} defective image(s) without a mask left out of the pixel metrics")
    result: dict[str, Any] = {"num_pixel_images": len(pairs)}
    if not pairs:
        return result
    curves = PixelCurves.build([amap for amap, _ in pairs], [mask for _, mask in pairs])
    if curves.positives == 0 or curves.negatives == 0:
        notes.append("ground truth holds only one pixel class: pixel metrics undefined")
        return result
    result.update(
        pixel_auroc=curves.auroc(),
        pixel_ap=curves.average_precision(),
        pixel_f1_max=curves.f1_max(),
        pixel_pro=curves.pro(PRO_FPR_LIMIT),
    )
    return result


def resize_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A boolean mask at ``shape`` (H, W) by nearest-neighbour sampling (never interpolated); as is when it fits."""
    truth = np.asarray(mask) > 0
    if truth.shape == tuple(shape):
        return truth
    from PIL import Image

    image = Image.fromarray(truth.astype(np.uint8) * 255, mode="L")
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.NEAREST)) > 0


class PixelCurves:
    """ROC, precision-recall and PRO curves of pooled pixels from a single sort.

    Pixel sets are large (MVTec masks at full resolution: ~10^8 pixels per
    category), and scikit-learn's ``roc_auc_score`` + ``precision_recall_curve``
    + a PRO curve would sort them three times in float64 (minutes, gigabytes).
    Here the pixels are sorted once (float32 scores) and every curve is read off
    the same cumulative counts at each run of equal scores, which is exactly
    how scikit-learn builds its curves: AUROC is the trapezoid area of the ROC
    curve (ties give diagonal segments), AP is sum over thresholds of
    (R_i - R_{i-1}) * P_i, F1-max is the largest 2TP / (TP + FP + #positives).
    The tests check all three against scikit-learn to 1e-9.
    """

    def __init__(
        self,
        tps: np.ndarray,
        fps: np.ndarray,
        pro: np.ndarray,
        thresholds: np.ndarray,
        positives: int,
        negatives: int,
        regions: int,
    ) -> None:
        self.tps, self.fps, self.pro_sum, self.thresholds = tps, fps, pro, thresholds
        self.positives, self.negatives, self.regions = positives, negatives, regions

    @classmethod
    def build(cls, maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> PixelCurves:
        from scipy.ndimage import label as label_components

        weights: list[np.ndarray] = []  # 1 / region size for each positive pixel, in mask order
        regions = 0
        for mask in masks:
            components, count = label_components(mask, structure=PRO_STRUCTURE)
            flat = components.ravel()
            sizes = np.bincount(flat, minlength=count + 1)
            weights.append(1.0 / sizes[flat[flat > 0]])
            regions += count
        truth = np.concatenate([np.asarray(m, dtype=bool).ravel() for m in masks])
        values = np.concatenate([np.asarray(m, dtype=np.float32).ravel() for m in maps])
        region_weight = np.concatenate(weights) if weights else np.zeros(0)
        positive_rank = np.zeros(truth.size, dtype=np.int64)  # position of each positive pixel among positives
        positive_rank[truth] = np.arange(int(truth.sum()))
        order = np.argsort(values)[::-1]  # descending; the order inside a run of ties does not matter
        values = values[order]
        truth_sorted = truth[order]
        run_end = np.flatnonzero(np.append(values[1:] != values[:-1], True))
        tps = np.cumsum(truth_sorted, dtype=np.int64)[run_end]
        fps = run_end + 1 - tps
        weight_sorted = region_weight[positive_rank[order[truth_sorted]]]  # positives' weights in score order
        pro = np.concatenate([[0.0], np.cumsum(weight_sorted)])[tps]
        return cls(tps, fps, pro, values[run_end], int(truth.sum()), int(truth.size - truth.sum()), regions)

    def auroc(self) -> float:
        tpr = np.concatenate([[0.0], self.tps / self.positives])
        fpr = np.concatenate([[0.0], self.fps / self.negatives])
        return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))

    def average_precision(self) -> float:
        precision = self.tps / (self.tps + self.fps)
        recall_step = np.diff(np.concatenate([[0], self.tps])) / self.positives
        return float(np.sum(recall_step * precision))

    def f1_max(self) -> float:
        return float(np.max(2 * self.tps / (self.tps + self.fps + self.positives)))

    def pro_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(FPR, PRO) points, one per distinct score, starting at (0, 0)."""
        fpr = np.minimum(self.fps / max(self.negatives, 1), 1.0)
        pro = np.minimum(self.pro_sum / max(self.regions, 1), 1.0)
        return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], pro])

    def pro(self, fpr_limit: float = PRO_FPR_LIMIT) -> float | None:
        if self.regions == 0:
            return None
        fpr, pro = self.pro_curve()
        return float(partial_area(fpr, pro, fpr_limit) / fpr_limit)


def pro_curve(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Exact (FPR, PRO) curve of MVTec AD, one point per distinct score, starting at (0, 0).

    Walking the pixels from the highest score down, a normal pixel raises the
    FPR by 1/#normal pixels and a pixel of region r raises the mean region
    overlap by 1/(|r| * #regions); the value after the last pixel of each run
    of equal scores is a point of the curve.
    """
    return PixelCurves.build(maps, masks).pro_curve()


def pro_score(
    maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], fpr_limit: float = PRO_FPR_LIMIT
) -> float | None:
    """Area under the PRO curve for FPR in [0, ``fpr_limit``], divided by ``fpr_limit``."""
    return PixelCurves.build(maps, masks).pro(fpr_limit)


def partial_area(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under y(x) for x in [0, x_max]; x must be non-decreasing from 0."""
    inside = x <= x_max
    xs, ys = x[inside], y[inside]
    area = float(np.sum(0.5 * (ys[1:] + ys[:-1]) * np.diff(xs)))
    if xs[-1] < x_max and inside.sum() < len(x):  # interpolate the segment that crosses x_max
        nxt = int(np.argmax(~inside))
        x0, y0, x1, y1 = x[nxt - 1], y[nxt - 1], x[nxt], y[nxt]
        y_at = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0)
        area += 0.5 * (y0 + y_at) * (x_max - x0)
    return area
