"""The episodic meta-learner skeleton shared by ProtoNet and the MAML family.

Import-light at module level (plugin modules subclass :class:`MetaLearner` when
``asebench list`` imports them); torch and learn2learn load inside methods.

``fit`` sees the training split only (``val`` is not used: the quick profile
has no early stopping, and no validation label may leak into a K-shot
support). It meta-trains on learn2learn tasks from the training split. Both
evaluations then go through one :meth:`MetaLearner.classify`:

* ``predict(test)``: the support is ``full_test_shots`` training samples per
  class drawn with the run seed; the whole test split is the query, so the row
  sits in the same macro-F1 table as every other method;
* ``predict_episode(support, query)``: the runner's episode (support from the
  training split, query from the test split).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np

from asebench.api.errors import NonFiniteLossError
from asebench.api.method import Capabilities, LabeledSplit, Method, Predictions, SplitView, UnlabeledSplit
from asebench.methods._fewshot.options import MetaOptions, meta_availability, meta_setting
from asebench.methods._fewshot.sampling import meta_task_sizes, method_rng, python_seed, select_shots


class MetaLearner(Method):
    """Meta-train on learn2learn tasks from the training split; classify from a K-shot support."""

    family = "few-shot"
    capabilities = Capabilities(needs_training=True, episodic=True, needs_weights=True, thread_invariant=True)
    Options: ClassVar[type[MetaOptions]] = MetaOptions

    @classmethod
    def availability(cls, options: MetaOptions, allow_download: bool = False) -> str | None:  # type: ignore[override]
        return meta_availability(options, allow_download)

    # -- hooks ---------------------------------------------------------------------------
    @abstractmethod
    def build(self, in_shape: tuple[int, ...], num_classes: int) -> list[Any]:
        """Create the networks; return the parameters the meta-optimiser updates."""

    @abstractmethod
    def task_loss(self, task: Any) -> tuple[Any, float]:
        """Query loss (differentiable w.r.t. the meta-parameters) and accuracy of one task."""

    @abstractmethod
    def classify(
        self, support_x: Any, support_y: Any, query_x: Any, num_classes: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Class probabilities of the query (and optional embeddings), leaving the meta-parameters untouched."""

    def check_ways(self, ways: int, num_classes: int) -> None:
        """Hook for methods whose network has a fixed number of outputs."""

    # -- the Method contract -------------------------------------------------------------
    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        from asebench.api.reproducibility import seed_torch
        from asebench.components.training import torch_threads
        from asebench.methods._fewshot.inputs import InputStore
        from asebench.methods._fewshot.l2l import import_learn2learn

        import_learn2learn()
        from asebench.methods._fewshot.tasks import MetaTaskSampler

        options: MetaOptions = self.options  # type: ignore[assignment]
        profile = self.context.profile
        seed_torch(self.context.seed, self.context.deterministic)
        self.device = self.context.device
        self.store = InputStore(
            options.backbone,
            self.context,
            meta_setting(options, profile, "image_size"),
            options.model,
            options.weights,
            options.batch_size,
        )
        self.train = train
        self.encoded: dict[str, np.ndarray] = {}
        raw = self.store.get(train)
        self.scale = self._scaler(raw)
        sizes = meta_task_sizes(
            train.class_counts(), train.class_names, options.ways, options.train_shots, options.train_queries
        )
        self.check_ways(sizes.ways, train.num_classes)
        self.task_sizes = sizes.report(options.train_shots, options.train_queries)
        inputs = self._tensor(raw)
        parameters = self.build(tuple(inputs.shape[1:]), train.num_classes)
        self.sampler = MetaTaskSampler(
            inputs, train.labels, sizes, python_seed(self.context.seed, "meta-tasks"), options.shuffle_labels
        )
        iterations = int(meta_setting(options, profile, "meta_iterations"))
        started = time.perf_counter()
        with torch_threads(options.torch_threads):
            losses, accuracies = self._meta_train(parameters, iterations)
        window = max(1, iterations // 10)
        self.meta_report = {
            **self.task_sizes,
            "iterations": iterations,
            "meta_batch_size": options.meta_batch_size,
            "tasks_sampled": len(self.sampler.history),
            "query_loss_first": float(np.mean(losses[:window])),
            "query_loss_last": float(np.mean(losses[-window:])),
            "query_accuracy_last": float(np.mean(accuracies[-window:])),
            "seconds": round(time.perf_counter() - started, 3),
            "validation_split": "unused",
        }

    def _meta_train(self, parameters: list[Any], iterations: int) -> tuple[list[float], list[float]]:
        """Adam on the mean query loss of ``meta_batch_size`` tasks per iteration."""
        import torch

        options: MetaOptions = self.options  # type: ignore[assignment]
        optimizer = torch.optim.Adam(parameters, lr=options.meta_lr, foreach=True)  # bit-identical, fewer kernels
        losses, accuracies = [], []
        for iteration in range(1, iterations + 1):
            optimizer.zero_grad(set_to_none=True)
            batch_loss, batch_acc = 0.0, 0.0
            for _ in range(options.meta_batch_size):
                loss, accuracy = self.task_loss(self.sampler.sample())
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(
                        f"meta-training loss became {loss.item()} at iteration {iteration}; lower meta_lr/adapt_lr"
                    )
                (loss / options.meta_batch_size).backward()
                batch_loss += loss.item() / options.meta_batch_size
                batch_acc += accuracy / options.meta_batch_size
            optimizer.step()
            losses.append(batch_loss)
            accuracies.append(batch_acc)
            if iteration % 10 == 0 or iteration == iterations:
                self.context.progress(f"meta-training loss {batch_loss:.3f}", iteration, iterations)
        return losses, accuracies

    def predict(self, test: UnlabeledSplit) -> Predictions:
        options: MetaOptions = self.options  # type: ignore[assignment]
        shots: int | Literal["all"] = options.full_test_shots  # ProtoNet's options also allow "all"
        selection = select_shots(
            self.train.labels, self.train.class_names, shots, method_rng(self.context.seed, "full-test-support")
        )
        self.full_test_support = selection.report()
        if shots != "all":
            self.full_test_support["ids"] = [self.train.ids[i] for i in selection.indices]
        support = self._encoded(self.train)[selection.indices]
        probabilities, embeddings = self._classify(
            support, self.train.labels[selection.indices], self._encoded(test), test.num_classes
        )
        return Predictions(labels=probabilities.argmax(1), probabilities=probabilities, features=embeddings)

    def predict_episode(self, support: LabeledSplit, query: UnlabeledSplit) -> Predictions:
        probabilities, _ = self._classify(
            self._encoded(support), support.labels, self._encoded(query), support.num_classes
        )
        return Predictions.from_probabilities(probabilities)

    def provenance(self) -> dict[str, Any]:
        return {
            **self.store.provenance(),
            "meta_training": getattr(self, "meta_report", {}),
            "full_test_support": getattr(self, "full_test_support", {}),
        }

    def meta_training_task_ids(self) -> list[tuple[set[str], set[str]]]:
        """Sample ids of the (support, query) of every meta-training task drawn so far."""
        ids = self.train.ids
        return [({ids[i] for i in s}, {ids[i] for i in q}) for s, q in self.sampler.history]

    # -- helpers -------------------------------------------------------------------------
    def _scaler(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Frozen features are standardised with training-split statistics; images are already normalised."""
        if self.store.kind != "timm":
            return None
        return raw.mean(0), np.maximum(raw.std(0), 1e-6)

    def _encoded(self, split: SplitView) -> np.ndarray:
        """:meth:`encode` of every sample of ``split``, computed once per id after meta-training.

        The encoder does not change once ``fit`` is done, so 1800 episodes
        re-use the rows instead of re-running it (the conv4 embeddings above all).
        """
        import torch

        from asebench.components.training import torch_threads

        new = {s.id: s for s in split.samples if s.id not in self.encoded}
        if new:
            fields = {
                name: getattr(split, name)
                for name in (
                    "class_names",
                    "task",
                    "normal_index",
                    "dataset_name",
                    "dataset_fingerprint",
                    "augmentation",
                )
            }
            inputs = self._tensor(self.store.get(SplitView(samples=tuple(new.values()), **fields)))
            with torch.no_grad(), torch_threads(self.options.torch_threads):  # type: ignore[attr-defined]
                rows = torch.cat([self.encode(chunk) for chunk in inputs.split(256)]).cpu().numpy()
            self.encoded.update(zip(new, rows, strict=True))
        return np.stack([self.encoded[s.id] for s in split.samples])

    def encode(self, x: Any) -> Any:
        """The part of the network that classification does not adapt (identity for MAML and Meta-SGD)."""
        return x

    def _tensor(self, array: np.ndarray) -> Any:
        import torch

        if self.scale is not None:
            array = (array - self.scale[0]) / self.scale[1]
        return torch.as_tensor(np.ascontiguousarray(array), dtype=torch.float32, device=self.device)

    def _classify(
        self, support_x: np.ndarray, support_y: np.ndarray, query_x: np.ndarray, num_classes: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        from asebench.components.training import torch_threads

        missing = sorted(set(range(num_classes)) - set(np.asarray(support_y).tolist()))
        if missing:
            raise ValueError(f"the support set has no sample of class(es) {missing}")

        def as_tensor(array: Any) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(array), dtype=torch.float32, device=self.device)

        labels = torch.as_tensor(np.asarray(support_y), dtype=torch.long, device=self.device)
        with torch_threads(self.options.torch_threads):  # type: ignore[attr-defined]
            probabilities, embeddings = self.classify(as_tensor(support_x), labels, as_tensor(query_x), num_classes)
        return probabilities.astype(np.float64), embeddings
