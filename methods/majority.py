"""``majority``: the sanity floor. Predicts the most frequent training class.

Any method that does not clearly beat it on macro-F1 has learned nothing.
"""

from __future__ import annotations

import numpy as np

from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, UnlabeledSplit
from asebench.api.registry import register_method


@register_method("majority")
class MajorityClass(Method):
    family = "sanity"
    description = "Predicts the most frequent training class for every image."
    capabilities = Capabilities(needs_training=True, thread_invariant=True)

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        counts = train.class_counts()
        # ties go to the lowest class index, deterministically
        self.prior = counts / counts.sum()
        self.label = int(np.argmax(counts))

    def predict(self, test: UnlabeledSplit) -> Predictions:
        probabilities = np.tile(self.prior, (len(test), 1))
        return Predictions(labels=np.full(len(test), self.label, dtype=np.int64), probabilities=probabilities)
