"""``knn`` and ``mahalanobis``: image-level anomaly detectors on pooled frozen features (as imgad offers).

Both fit on the pooled features (the shared feature cache, the same vectors
the linear probes use) of the training split's *normal* images only; option
``model`` picks any timm backbone the harness can load (default the offline
ImageNet ``tf_efficientnet_lite0``):

* ``knn``: score = mean Euclidean distance to the ``k`` nearest normal
  training features. Default k = 1: the few-shot regime (1-4 normal images
  per object) leaves too few neighbours for a larger k to mean anything, and
  with a full training set k = 1 is the standard choice of the PatchCore /
  SPADE line (k up to 5 moves image AUROC little there); the option is free.
* ``mahalanobis``: score = Mahalanobis distance to the normal features' mean
  under a Ledoit-Wolf shrinkage covariance (scikit-learn), which stays
  invertible when there are fewer images than feature dimensions.

No maps (image-level features). Labels: the shared detector threshold
(:mod:`asebench.components.thresholds`): validation F1, else the
``normal_quantile`` of cross-fitted normal training scores (5 folds, each
scored by a detector fitted on the other four).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.components.backbone_options import BackboneOptions, backbone_availability, profile_setting


class DetectorOptions(BackboneOptions):
    normal_quantile: float = Field(0.99, ge=0.0, le=1.0)


class KnnOptions(DetectorOptions):
    k: int = Field(1, ge=1)


def knn_scores(normal: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Mean Euclidean distance of each query row to its ``k`` nearest ``normal`` rows."""
    squared = (queries**2).sum(1)[:, None] - 2 * queries @ normal.T + (normal**2).sum(1)[None, :]
    nearest = np.sort(np.sqrt(np.clip(squared, 0, None)), axis=1)[:, : min(k, len(normal))]
    return np.asarray(nearest.mean(axis=1), dtype=np.float64)


def mahalanobis_scores(normal: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of each query row under the Ledoit-Wolf covariance of the ``normal`` rows.

    The same numbers as scikit-learn's ``LedoitWolf().fit(normal).mahalanobis`` (tested), without its
    d x d pseudo-inverse: the shrunk covariance is ``a I + b Xc^T Xc`` with ``n`` centred rows ``Xc``,
    so Woodbury's identity inverts it through an ``n x n`` system. With 40 normal images of 1,280-dim
    lite0 features that is milliseconds instead of seconds per fit (the cross-fitted threshold fits six).
    """
    from sklearn.covariance import LedoitWolf, ledoit_wolf_shrinkage

    normal, queries = normal.astype(np.float64), queries.astype(np.float64)
    location = normal.mean(axis=0)
    centred = normal - location
    n, d = centred.shape
    shrinkage = float(ledoit_wolf_shrinkage(centred, assume_centered=True))
    a = shrinkage * float((centred**2).sum()) / (n * d)  # shrinkage x trace(S) / d on the identity
    if a <= 0.0:  # no spread (one image) or no shrinkage: the pseudo-inverse decides, as scikit-learn does
        estimator = LedoitWolf().fit(normal)
        return np.sqrt(np.clip(estimator.mahalanobis(queries), 0, None))
    b = (1.0 - shrinkage) / n
    offsets = queries - location
    squared = (offsets**2).sum(axis=1)
    if b > 0.0:
        projected = offsets @ centred.T  # (m, n)
        inner = np.linalg.solve((a / b) * np.eye(n) + centred @ centred.T, projected.T)
        squared = squared - (projected * inner.T).sum(axis=1)
    return np.sqrt(np.clip(squared / a, 0, None))


class FrozenDetector(Method):
    family = "frozen-features"
    version = "1"
    capabilities = Capabilities(
        needs_training=False, needs_weights=True, anomaly_detector=True, binary_only=True, thread_invariant=True
    )
    registered_name: ClassVar[str] = ""

    @classmethod
    def availability(cls, options: DetectorOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        return backbone_availability(options, allow_download)

    def score(self, normal: np.ndarray, queries: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _features(self, split: SplitView) -> np.ndarray:
        from asebench.components.extraction import frozen_features

        options: DetectorOptions = self.options  # type: ignore[assignment]
        size = profile_setting(options, self.context.profile, "image_size")
        result = frozen_features(options.model, options.weights, size, options.batch_size, split, self.context)
        self.extraction = result.provenance
        self.computed += result.computed
        return result.features.astype(np.float64)

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        from asebench.components.thresholds import cross_fitted_scores, detector_threshold

        options: DetectorOptions = self.options  # type: ignore[assignment]
        if train.normal_index is None:
            raise ValueError(f"{self.registered_name} needs a dataset with a normal class (anomaly detection)")
        self.computed = 0
        features = self._features(train)
        self.normal = features[train.labels == train.normal_index]
        if len(self.normal) == 0:
            raise ValueError(f"{self.registered_name}: the training split has no normal image")

        def held_out() -> tuple[np.ndarray, str]:
            scores = cross_fitted_scores(len(self.normal), lambda a, b: self.score(self.normal[a], self.normal[b]))
            return scores, "5-fold cross-fitting on the normal training images (leave-one-out below 5)"

        self.threshold = detector_threshold(
            val.labels != train.normal_index,
            lambda: self.score(self.normal, self._features(val)),
            held_out,
            options.normal_quantile,
        )

    def predict(self, test: UnlabeledSplit) -> Predictions:
        scores = self.score(self.normal, self._features(test))
        labels = (scores >= self.threshold["threshold"]).astype(np.int64)
        return Predictions(labels=labels, anomaly_scores=scores)

    def modules(self) -> list[Any]:
        """The frozen backbone (built for counting: predict reads its features from the cache)."""
        from asebench.components.extraction import backbone_for_counting

        options: DetectorOptions = self.options  # type: ignore[assignment]
        return [backbone_for_counting(options.model, profile_setting(options, self.context.profile, "image_size"))]

    def provenance(self) -> dict[str, Any]:
        return {
            **self.extraction,
            "features_computed": self.computed,
            "normal_training_images": len(self.normal),
            "threshold": self.threshold,
        }


@register_method("knn")
class KnnDetector(FrozenDetector):
    description = "kNN anomaly score: mean distance to the k nearest normal training features (pooled, lite0 offline)."
    Options = KnnOptions
    registered_name: ClassVar[str] = "knn"

    def score(self, normal: np.ndarray, queries: np.ndarray) -> np.ndarray:
        return knn_scores(normal, queries, self.options.k)  # type: ignore[attr-defined]

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "k": self.options.k}  # type: ignore[attr-defined]


@register_method("mahalanobis")
class MahalanobisDetector(FrozenDetector):
    description = (
        "Mahalanobis anomaly score under a Ledoit-Wolf covariance of normal training features (pooled, lite0)."
    )
    Options = DetectorOptions
    registered_name: ClassVar[str] = "mahalanobis"

    def score(self, normal: np.ndarray, queries: np.ndarray) -> np.ndarray:
        return mahalanobis_scores(normal, queries)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "covariance": "Ledoit-Wolf shrinkage (scikit-learn)"}
