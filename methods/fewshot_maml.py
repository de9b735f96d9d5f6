"""Gradient-based meta-learners on learn2learn: MAML, first-order MAML, ANIL and Meta-SGD.

Registered names (frozen cached ``tf_efficientnet_lite0`` features, weights
``auto``, unless the name ends in ``-conv4``):

* ``maml``: second-order MAML (Finn et al., 2017), ``l2l.algorithms.MAML``;
  the whole MLP classifier (``Linear -> ReLU -> Linear``) adapts;
* ``maml-fo``: first-order MAML (no second derivatives);
* ``anil``, ``anil-conv4``: ANIL (Raghu et al., 2020): the body (``Linear -> ReLU``,
  or conv4) is meta-learned but frozen during adaptation; only the last linear
  layer (a second-order ``l2l.algorithms.MAML``) adapts;
* ``metasgd``: Meta-SGD (Li et al., 2017), ``l2l.algorithms.MetaSGD``: every
  parameter adapts with its own meta-learned learning rate.

Meta-training draws tasks of all the task's classes from the training split
with ``l2l.data.Taskset`` (labels shuffled per task by ``RemapLabels``, so
the initialisation cannot memorise which output is which class and has to
adapt). The network has one output per class, so ``ways`` must be the number
of classes. Classifying (full test set or episode) adapts a copy of the
meta-learned parameters on the support for ``test_adapt_steps`` first-order
gradient steps, with learn2learn's update arithmetic on plain tensors, and
reads the query off the adapted copy; the meta-learned parameters are never
written.

Every one of them takes ``backbone: conv4`` as an option, but only ANIL is
registered on conv4: adapting a whole conv net costs ~15 ms per inner step on
a CPU, so 600 episodes x 3 K x 10 steps would take minutes; ANIL adapts the
last layer on body outputs computed once per sample. ``anil-conv4`` uses
``adapt_lr = 0.03``: with a body learned from scratch, 0.5 diverged to chance
and 0.1 was unstable across seeds (validation split of ase-synth).

Options beyond :class:`~asebench.methods._fewshot.options.MetaOptions`:
``adapt_lr`` (inner learning rate; Meta-SGD's initial one), ``adapt_steps``
(inner steps in meta-training), ``test_adapt_steps`` (inner steps when
classifying).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from asebench.api.method import Capabilities
from asebench.api.registry import register_method
from asebench.methods._fewshot.meta import MetaLearner
from asebench.methods._fewshot.options import MetaOptions


class GradientMetaOptions(MetaOptions):
    adapt_lr: float = Field(0.1, gt=0)
    adapt_steps: int = Field(5, ge=1)
    test_adapt_steps: int = Field(10, ge=1)


class GradientMetaLearner(MetaLearner):
    """MAML-family learner; subclasses pick the algorithm."""

    version = "1"  # classify's functional adaptation gives the same numbers as learn2learn's clone (checked)
    Options = GradientMetaOptions
    algorithm: ClassVar[str] = "maml"
    first_order: ClassVar[bool] = False

    def check_ways(self, ways: int, num_classes: int) -> None:
        if ways != num_classes:
            raise ValueError(
                f"{self.algorithm} has one output per class, so ways must be the number of classes ({num_classes}), got {ways}"
            )

    def build(self, in_shape: tuple[int, ...], num_classes: int) -> list[Any]:
        import learn2learn as l2l
        from torch import nn

        from asebench.methods._fewshot.networks import body

        options: GradientMetaOptions = self.options  # type: ignore[assignment]
        trunk, width = body(options.backbone, in_shape, options.hidden_size, options.conv4_channels)
        head = nn.Linear(width, num_classes)
        self.body: nn.Module | None = None  # ANIL's frozen body; the other algorithms adapt the whole model
        if self.algorithm == "anil":
            self.body = trunk.to(self.device)
            self.learner = l2l.algorithms.MAML(head.to(self.device), lr=options.adapt_lr, first_order=False)
            return [*self.body.parameters(), *self.learner.parameters()]
        model = nn.Sequential(trunk, head).to(self.device)
        if self.algorithm == "metasgd":
            self.learner = l2l.algorithms.MetaSGD(model, lr=options.adapt_lr, first_order=False)
        else:
            self.learner = l2l.algorithms.MAML(model, lr=options.adapt_lr, first_order=self.first_order)
        return list(self.learner.parameters())

    def task_loss(self, task: Any) -> tuple[Any, float]:
        """Meta-training: a learn2learn clone adapts with the algorithm's own order, so the meta-gradient flows."""
        import torch.nn.functional as F

        options: GradientMetaOptions = self.options  # type: ignore[assignment]
        support_x, query_x = task.support_x.to(self.device), task.query_x.to(self.device)
        if self.body is not None:
            support_x, query_x = self.body(support_x), self.body(query_x)
        support_y = task.support_y.to(self.device)
        clone = self.learner.clone()
        for _ in range(options.adapt_steps):
            clone.adapt(F.cross_entropy(clone(support_x), support_y))
        logits = clone(query_x)
        target = task.query_y.to(self.device)
        return F.cross_entropy(logits, target), float((logits.argmax(1) == target).float().mean())

    def encode(self, x: Any) -> Any:
        """ANIL's body does not adapt, so its outputs are computed once per sample."""
        return x if self.body is None else self.body(x)

    def classify(
        self, support_x: Any, support_y: Any, query_x: Any, num_classes: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        import torch
        from torch.func import functional_call

        options: GradientMetaOptions = self.options  # type: ignore[assignment]
        with torch.enable_grad():
            parameters = self._first_order_adapted(support_x, support_y, options.test_adapt_steps)
        with torch.no_grad():
            logits = functional_call(self.learner.module, parameters, (query_x,))
            return torch.softmax(logits, 1).cpu().numpy(), None

    def _first_order_adapted(self, support_x: Any, support_y: Any, steps: int) -> dict[str, Any]:
        """The parameters after ``steps`` first-order steps on the support, as plain tensors.

        The same arithmetic as learn2learn's ``clone()`` + ``adapt(first_order=True)``,
        bit for bit: MAML's update is ``p + (-lr * g)``, Meta-SGD's
        ``p - lr_p * g`` (their ``maml_update`` / ``meta_sgd_update``); records
        are identical. Without a module copy per episode and a module rebuild
        per step, a cell's 1,800 evaluation episodes (10 steps each) take about
        10 % less time; the rest is the network's own arithmetic.
        """
        import torch
        import torch.nn.functional as F
        from torch.func import functional_call

        module = self.learner.module
        names = [name for name, _ in module.named_parameters()]
        values = [parameter.detach() for parameter in module.parameters()]
        if self.algorithm == "metasgd":
            rates = [rate.detach() for rate in self.learner.lrs]
        else:
            lr = self.learner.lr
        for _ in range(steps):
            leaves = [value.requires_grad_() for value in values]
            logits = functional_call(module, dict(zip(names, leaves, strict=True)), (support_x,))
            gradients = torch.autograd.grad(F.cross_entropy(logits, support_y), leaves)
            with torch.no_grad():
                if self.algorithm == "metasgd":
                    values = [p - lr * g for p, lr, g in zip(leaves, rates, gradients, strict=True)]
                else:
                    values = [p + (-lr * g) for p, g in zip(leaves, gradients, strict=True)]
        return dict(zip(names, values, strict=True))

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "algorithm": self.algorithm, "first_order": self.first_order}


# meta-training plus 1,800 adapted evaluation episodes: 20-30 s a cell on one CPU thread, against a few for most cells
LONGER = replace(MetaLearner.capabilities, long_running=True)


class MAML(GradientMetaLearner):
    description = (
        "MAML, second order (learn2learn): an MLP classifier on frozen cached timm features adapts on the support."
    )
    capabilities = LONGER


class FirstOrderMAML(GradientMetaLearner):
    description = (
        "First-order MAML (learn2learn): an MLP classifier on frozen cached timm features adapts on the support."
    )
    algorithm = "maml-fo"
    first_order = True
    capabilities = LONGER


class ANIL(GradientMetaLearner):
    description = "ANIL (learn2learn): meta-learned body, only the last layer adapts on the support."
    algorithm = "anil"


class MetaSGD(GradientMetaLearner):
    description = "Meta-SGD (learn2learn): every parameter adapts with its own meta-learned learning rate."
    algorithm = "metasgd"
    capabilities = LONGER


class ANILConv4(ANIL):
    description = (
        "ANIL (learn2learn) with a conv4 body learned from scratch on small images; only the last layer adapts."
    )
    capabilities = Capabilities(needs_training=True, episodic=True, thread_invariant=True, long_running=True)


register_method("maml")(MAML)
register_method("maml-fo")(FirstOrderMAML)
register_method("anil")(ANIL)
register_method("metasgd")(MetaSGD)
register_method("anil-conv4", backbone="conv4", adapt_lr=0.03)(ANILConv4)
