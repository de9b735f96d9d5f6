"""Prototypical Networks (Snell et al., 2017), meta-trained with learn2learn tasks.

Registered names:

* ``protonet``: an MLP embedding (``Linear -> ReLU -> Linear``) learned on
  frozen, cached ``tf_efficientnet_lite0`` features (weights ``auto``), the
  features standardised with training-split statistics;
* ``protonet-conv4``: a conv4 embedding learned from scratch on small images
  (32 px in the quick profile, 64 px in paper).

Meta-training draws N-way tasks from the training split with
``l2l.data.Taskset`` (see :mod:`asebench.methods._fewshot.tasks`); each
task's loss is the cross-entropy of its query under the softmax of negative
squared distances to the support prototypes (``l2l.nn.PrototypicalClassifier``).
Classifying never changes the embedding: prototypes are means of embedded
support samples, computed without gradients (each sample is embedded once
after meta-training and re-used by every episode). The full-test prediction
also returns the test embeddings, stored beside the record for t-SNE.

Options beyond :class:`~asebench.methods._fewshot.options.MetaOptions`:
``embedding_size`` and ``full_test_shots`` (K per class for the full test
set, or ``"all"`` training samples).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from asebench.api.method import Capabilities
from asebench.api.registry import register_method
from asebench.methods._fewshot.meta import MetaLearner
from asebench.methods._fewshot.options import MetaOptions, shots_or_all


class ProtoNetOptions(MetaOptions):
    embedding_size: int = Field(64, ge=1)
    full_test_shots: int | Literal["all"] = 5  # type: ignore[assignment]

    @field_validator("full_test_shots")
    @classmethod
    def _shots(cls, value: int | str) -> int | str:
        return shots_or_all(value)


class ProtoNet(MetaLearner):
    version = "1"
    description = (
        "Prototypical Networks (learn2learn tasks): MLP embedding on frozen cached timm features, nearest prototype."
    )
    Options = ProtoNetOptions

    def build(self, in_shape: tuple[int, ...], num_classes: int) -> list[Any]:
        from torch import nn

        from asebench.methods._fewshot.networks import body

        options: ProtoNetOptions = self.options  # type: ignore[assignment]
        trunk, width = body(options.backbone, in_shape, options.hidden_size, options.conv4_channels)
        head = nn.Linear(width, options.embedding_size) if options.backbone == "timm" else nn.Identity()
        self.embed = nn.Sequential(trunk, head).to(self.device)
        return list(self.embed.parameters())

    def task_loss(self, task: Any) -> tuple[Any, float]:
        import torch.nn.functional as F
        from learn2learn.nn import PrototypicalClassifier

        self.embed.train()
        classifier = PrototypicalClassifier(self.embed(task.support_x.to(self.device)), task.support_y.to(self.device))
        logits = classifier(self.embed(task.query_x.to(self.device)))
        target = task.query_y.to(self.device)
        return F.cross_entropy(logits, target), float((logits.argmax(1) == target).float().mean())

    def encode(self, x: Any) -> Any:
        self.embed.eval()
        return self.embed(x)

    def classify(
        self, support_x: Any, support_y: Any, query_x: Any, num_classes: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        import torch
        from learn2learn.nn import PrototypicalClassifier

        # inputs are already embedded (:meth:`encode`); every class 0..C-1 is in the support
        # (checked by the caller), so l2l's prototype order (sorted labels) is the class order
        logits = PrototypicalClassifier(support_x, support_y)(query_x)
        return torch.softmax(logits, 1).cpu().numpy(), query_x.cpu().numpy()

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "algorithm": "protonet", "distance": "squared euclidean"}


class ProtoNetConv4(ProtoNet):
    description = "Prototypical Networks (learn2learn tasks): conv4 embedding learned from scratch on small images."
    capabilities = Capabilities(needs_training=True, episodic=True, thread_invariant=True, long_running=True)


register_method("protonet")(ProtoNet)
register_method("protonet-conv4", backbone="conv4")(ProtoNetConv4)
