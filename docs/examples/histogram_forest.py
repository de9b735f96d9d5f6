"""``histogram-forest``: a random forest on colour histograms, the complete example of docs/plugins.md.

Not a built-in method: nothing imports this file unless a run names it,
``asebench run --plugin docs/examples/histogram_forest.py -m histogram-forest``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from asebench.api import (
    Capabilities,
    LabeledSplit,
    Method,
    MethodOptions,
    Predictions,
    SplitView,
    UnlabeledSplit,
    load_image,
    register_method,
)

TREES = 200  # fixed here; an option would do as well


class HistogramForestOptions(MethodOptions):
    """Set in a run config as ``method_options: {histogram-forest: {bins: 8}}``; an unknown key is an error."""

    bins: int = Field(16, ge=2, le=256, description="histogram bins per colour channel")


@register_method("histogram-forest")
class HistogramForest(Method):
    """A scikit-learn random forest on the per-channel colour histograms of each image."""

    family = "example"
    version = "1"  # bump it for a change the code hash cannot see (say, a scikit-learn upgrade)
    description = "Random forest on RGB colour histograms (the plugin guide's example)."
    capabilities = Capabilities(needs_training=True)
    Options = HistogramForestOptions

    @property
    def settings(self) -> HistogramForestOptions:
        """``self.options`` with its own type: the base class declares it as plain ``MethodOptions``."""
        assert isinstance(self.options, HistogramForestOptions)
        return self.options

    def features(self, split: SplitView) -> np.ndarray:
        """One row per sample, in split order: each channel's histogram as fractions of the pixels."""
        bins, rows = self.settings.bins, []
        for done, sample in enumerate(split.samples, start=1):
            pixels = np.asarray(load_image(sample, "RGB")).reshape(-1, 3)  # a path or an array: load_image reads both
            counts = [np.histogram(pixels[:, channel], bins=bins, range=(0, 256))[0] for channel in range(3)]
            rows.append(np.concatenate(counts) / len(pixels))
            self.context.progress("colour histograms", done, len(split))
        return np.stack(rows)

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        """Grow the forest on the training split; ``val`` would be for model selection, which it needs none of."""
        from sklearn.ensemble import RandomForestClassifier  # heavy imports inside methods: `asebench list` stays fast

        # the run seed, never a constant: with random_state=0 every --seeds value would grow the same forest
        self.forest = RandomForestClassifier(n_estimators=TREES, random_state=self.context.seed, n_jobs=1)
        self.forest.fit(self.features(train), train.labels)  # labels: indices into train.class_names

    def predict(self, test: UnlabeledSplit) -> Predictions:
        """Class probabilities over every class of the task (a class the forest never saw gets 0)."""
        probabilities = np.zeros((len(test), test.num_classes))
        probabilities[:, self.forest.classes_] = self.forest.predict_proba(self.features(test))
        return Predictions.from_probabilities(probabilities)

    def provenance(self) -> dict[str, Any]:
        """What the record keeps to reproduce the row: features, forest size, seed and library version."""
        import sklearn

        return {
            "features": f"RGB histograms, {self.settings.bins} bins per channel",
            "trees": TREES,
            "random_state": self.context.seed,
            "scikit_learn": sklearn.__version__,
        }
