"""Non-episodic few-shot baselines on frozen cached timm features: SimpleShot and a K-shot probe.

Registered names (``tf_efficientnet_lite0``, weights ``auto``):

* ``simpleshot``: SimpleShot CL2N (Wang et al., 2019): subtract the mean
  feature of the *training split* (label-free, computed in ``fit``), L2
  normalise, then nearest class centroid (Euclidean) of the support;
* ``kshot-probe``: a logistic regression fitted only on the K support shots
  per class (on the same CL2N features). ``C`` is fixed (option ``c``), not
  tuned on validation: tuning it there would let more than K labels per
  class shape the classifier (the leak of CLIP_benchmark issue #125). The
  default ``C = 1`` on L2-normalised features follows the logistic-regression
  few-shot baseline of Tian et al. (2020, "Rethinking few-shot image
  classification").

Neither meta-trains, and neither needs learn2learn. Both are evaluated on the
runner's episodes like the meta-learners (``predict_episode``), and on the
whole test split from ``full_test_shots`` training samples per class drawn
with the run seed (``"all"``: every training sample).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.components.backbone_options import profile_setting
from asebench.methods._fewshot.options import FrozenFeatureOptions, frozen_availability
from asebench.methods._fewshot.sampling import method_rng, select_shots


@functools.cache
def _blas_controller() -> Any:
    """One threadpoolctl controller (finding the BLAS libraries takes ~2 ms; limiting with it ~0.02 ms)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def cl2n(features: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """SimpleShot's CL2N: centre on the training mean, then scale to unit length."""
    centred = features - mean
    return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)


def nearest_centroid(support: np.ndarray, labels: np.ndarray, query: np.ndarray, num_classes: int) -> np.ndarray:
    """Softmax over negative squared distances to the class centroids (argmax = nearest centroid)."""
    centroids = np.stack([support[labels == k].mean(0) for k in range(num_classes)])
    distances = ((query[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    logits = -distances - (-distances).max(1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(1, keepdims=True)


class FrozenFewShot(Method):
    """Shared plumbing: cached features, the training mean, the two evaluations."""

    family = "few-shot"
    version = "1"
    capabilities = Capabilities(needs_training=True, episodic=True, needs_weights=True, thread_invariant=True)
    Options: ClassVar[type[FrozenFeatureOptions]] = FrozenFeatureOptions

    @classmethod
    def availability(cls, options: FrozenFeatureOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        return frozen_availability(options, allow_download)

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        from asebench.methods._fewshot.inputs import InputStore

        options: FrozenFeatureOptions = self.options  # type: ignore[assignment]
        size = profile_setting(options, self.context.profile, "image_size")
        self.store = InputStore("timm", self.context, size, options.model, options.weights, options.batch_size)
        self.train = train
        self.mean = self.store.get(train).mean(0)  # label-free statistic of the training split only

    def features(self, split: SplitView) -> np.ndarray:
        """CL2N features of ``split``."""
        return cl2n(self.store.get(split), self.mean)

    def classify(self, support: np.ndarray, labels: np.ndarray, query: np.ndarray, num_classes: int) -> np.ndarray:
        raise NotImplementedError

    def _classify(self, support: np.ndarray, labels: np.ndarray, query: np.ndarray, num_classes: int) -> np.ndarray:
        """``classify`` on one BLAS thread: these matrices are tiny, and idle BLAS workers spin on a busy CPU."""
        with _blas_controller().limit(limits=1, user_api="blas"):
            return self.classify(support, labels, query, num_classes)

    def predict(self, test: UnlabeledSplit) -> Predictions:
        options: FrozenFeatureOptions = self.options  # type: ignore[assignment]
        selection = select_shots(
            self.train.labels,
            self.train.class_names,
            options.full_test_shots,
            method_rng(self.context.seed, "full-test-support"),
        )
        self.full_test_support = selection.report()
        if options.full_test_shots != "all":
            self.full_test_support["ids"] = [self.train.ids[i] for i in selection.indices]
        support = self.features(self.train)[selection.indices]
        return Predictions.from_probabilities(
            self._classify(support, self.train.labels[selection.indices], self.features(test), test.num_classes)
        )

    def predict_episode(self, support: LabeledSplit, query: UnlabeledSplit) -> Predictions:
        return Predictions.from_probabilities(
            self._classify(self.features(support), support.labels, self.features(query), support.num_classes)
        )

    def provenance(self) -> dict[str, Any]:
        return {
            **self.store.provenance(),
            "normalisation": "CL2N (training-split mean, L2)",
            "full_test_support": getattr(self, "full_test_support", {}),
            "validation_split": "unused",
        }


class SimpleShot(FrozenFewShot):
    description = "SimpleShot CL2N: nearest class centroid on centred, L2-normalised frozen timm features."

    def classify(self, support: np.ndarray, labels: np.ndarray, query: np.ndarray, num_classes: int) -> np.ndarray:
        return nearest_centroid(support, labels, query, num_classes)


class KShotProbeOptions(FrozenFeatureOptions):
    c: float = Field(1.0, gt=0)
    max_iter: int = Field(1000, ge=10)


class KShotProbe(FrozenFewShot):
    description = (
        "Logistic regression fitted only on the K support shots per class (CL2N frozen timm features, fixed C)."
    )
    Options = KShotProbeOptions

    def classify(self, support: np.ndarray, labels: np.ndarray, query: np.ndarray, num_classes: int) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        options: KShotProbeOptions = self.options  # type: ignore[assignment]
        self.last_fit_size = len(labels)
        model = LogisticRegression(C=options.c, max_iter=options.max_iter).fit(support, labels)
        probabilities = np.zeros((len(query), num_classes))
        probabilities[:, model.classes_] = model.predict_proba(query)
        return probabilities

    def provenance(self) -> dict[str, Any]:
        options: KShotProbeOptions = self.options  # type: ignore[assignment]
        return {**super().provenance(), "C": options.c}


register_method("simpleshot")(SimpleShot)
register_method("kshot-probe")(KShotProbe)
