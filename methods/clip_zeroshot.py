"""``clip-zeroshot``: zero-shot classification with open_clip text prototypes.

One prototype per class, the mean of a prompt ensemble (states x WinCLIP's 22
templates, see :mod:`asebench.methods._clip.prompts`); an image goes to the
class with the highest cosine similarity, probabilities are
softmax(cos / temperature). Nothing is learned: the training and validation
splits are not used.

* binary task: ``normal`` = WinCLIP's 7 normal states, ``defect`` = its 4
  anomalous states (WinCLIP's zero-shot classifier);
* multiclass task: the normal class gets the normal states, each defect type
  ``{} with <type>`` phrases, unless ``class_prompts`` / ``prompts_file`` say
  otherwise. Anonymous class names (``type1``...) without prompts make the
  cell fail with "not applicable": a near-chance number would be meaningless.

The anomaly score (1 - P(normal class)) is returned too, so the runner adds
image-level anomaly metrics whenever the dataset has a normal class.

Weights: ``auto`` (open_clip's pretrained checkpoint from the Hugging Face cache,
downloaded with ``--allow-download``) or a local open_clip checkpoint (option
``weights``); without one the method is unavailable. ``weights: random`` (tests only) gives meaningless numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asebench.api.data import Task
from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.api.registry import register_method
from asebench.methods._clip.options import ClipPromptOptions, clip_availability, uses_random_weights

NAME = "clip-zeroshot"


@register_method(NAME)
class ClipZeroShot(Method):
    family = "clip-zero-shot"
    version = "1"
    description = "open_clip zero-shot: prompt-ensemble text prototypes per class (WinCLIP states x 22 templates)."
    capabilities = Capabilities(needs_training=False, zero_shot=True, needs_weights=True, anomaly_detector=True)
    Options = ClipPromptOptions

    @classmethod
    def availability(cls, options: ClipPromptOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        return clip_availability(options, NAME, allow_download)

    def placeholder_weights(self) -> bool:
        return uses_random_weights(self.options)  # type: ignore[arg-type]

    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        """Load the model and build the prototypes (fails early when prompts are not applicable)."""
        from asebench.methods._clip.model import load_clip
        from asebench.methods._clip.prompts import prompt_config

        options: ClipPromptOptions = self.options  # type: ignore[assignment]
        self.bundle = load_clip(options, self.context.device, self.context.allow_download)
        self.prompts = prompt_config(options)
        self.prototypes = self._prototypes(train, [*train.samples, *val.samples])

    def _prototypes(self, view: SplitView, samples: Any) -> Any:
        from asebench.methods._clip.zeroshot import build_prototypes, sample_objects

        options: ClipPromptOptions = self.options  # type: ignore[assignment]
        normal = view.class_names[view.normal_index] if view.normal_index is not None else None
        return build_prototypes(
            self.bundle,
            view.class_names,
            normal,
            self.prompts,
            sample_objects(samples, self.prompts),
            options.prototype,
            binary=view.task is Task.BINARY,
            descriptions=getattr(view, "class_descriptions", None),
        )

    def predict(self, test: UnlabeledSplit) -> Predictions:
        import torch

        from asebench.methods._clip.zeroshot import class_logits, sample_objects, softmax

        options: ClipPromptOptions = self.options  # type: ignore[assignment]
        missing = set(sample_objects(test.samples, self.prompts)) - set(self.prototypes.by_object)
        if missing:  # objects seen only in the test split
            self.prototypes.by_object.update(self._prototypes(test, test.samples).by_object)
        embeddings = self.bundle.encode_images(test.samples, options.batch_size, self.context, "clip-zeroshot test")
        unit = torch.nn.functional.normalize(torch.from_numpy(embeddings), dim=-1)
        probabilities = softmax(class_logits(unit, test.samples, self.prototypes, self.prompts, options.temperature))
        scores = None if test.normal_index is None else 1.0 - probabilities[:, test.normal_index]
        return Predictions(
            labels=probabilities.argmax(axis=1).astype(np.int64),
            probabilities=probabilities,
            anomaly_scores=scores,
        )

    def modules(self) -> list[Any]:
        return [self.bundle.model]

    def provenance(self) -> dict[str, Any]:
        options: ClipPromptOptions = self.options  # type: ignore[assignment]
        return {
            **self.bundle.provenance,
            "prompts": {
                **self.prototypes.describe(),
                "templates": len(self.prompts.templates),
                "prototype": options.prototype,
                "replace_underscores": options.replace_underscores,
            },
            "temperature": options.temperature,
            "anomaly_score": "1 - P(normal class)",
        }
