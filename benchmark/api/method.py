"""The method contract: the one base class every classifier plugin implements.

A method gets the training and validation splits with labels, and the test
split *without* labels; it returns predictions (class indices, optionally
probabilities). It never computes metrics: the runner does, from the stored
predictions, the same way for every method.

A complete plugin::

    from asebench.api import Capabilities, Method, Predictions, register_method

    @register_method("always-normal")
    class AlwaysNormal(Method):
        family = "sanity"
        description = "Predicts the normal class for every image."
        capabilities = Capabilities(needs_training=False)

        def fit(self, train, val):
            pass

        def predict(self, test):
            return Predictions.from_labels([test.normal_index] * len(test))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from asebench.api.data import AugmentationPolicy, LoadedDataset, Sample, Task


@dataclass(frozen=True)
class Capabilities:
    """What a method needs and how it learns; shown by ``asebench list``."""

    needs_training: bool = True
    episodic: bool = False
    zero_shot: bool = False
    needs_weights: bool = False
    needs_text: bool = False
    # Fits on normal images only (or on none) and returns anomaly scores: the only kind of method the
    # per-category anomaly protocols (``official``, ``transfer``) run; a classifier needs labelled defects.
    anomaly_detector: bool = False
    # Draws k normal reference images of every object it scores from the training split (WinCLIP+): it
    # cannot score a dataset it was not given training images of, so the ``transfer`` protocol refuses it.
    reference_shots: bool = False
    # Returns anomaly scores and a normal/defect decision but cannot tell defect types apart (PatchCore, kNN):
    # its multiclass cells are skipped with the reason instead of failing.
    binary_only: bool = False
    # Its predictions are bit-identical whatever the CPU thread count (torch, BLAS, OpenMP, onnxruntime): the
    # process executor then runs its cells one thread each, side by side. A method without it (training with
    # BatchNorm sums its gradients in a thread-dependent order) runs alone with every core, as ``local`` runs it,
    # so sharing the machine never moves its numbers. Built-ins claim it only where a test checks it.
    thread_invariant: bool = False
    # Its cells take long (a network trained end to end for several epochs or hundreds of episodes): an
    # executor that shares the cores starts them before short ones, so that at the end of a run no worker
    # is left alone with a long cell while the others idle (longest first). A scheduling hint only.
    long_running: bool = False

    def labels(self) -> list[str]:
        """Short words for the capabilities that are set, as ``asebench list`` shows them."""
        names = {
            "needs_training": "trains",
            "episodic": "episodic",
            "zero_shot": "zero-shot",
            "needs_weights": "needs weights",
            "needs_text": "needs text/metadata",
            "anomaly_detector": "anomaly detector",
            "reference_shots": "normal reference shots",
            "binary_only": "binary task only",
            "thread_invariant": "thread-invariant",
            "long_running": "long-running",
        }
        return [label for key, label in names.items() if getattr(self, key)]

    def protocols(self) -> list[str]:
        """The split protocols a method with these capabilities runs under (``asebench list`` shows them)."""
        return [p for p in ("holdout", "kfold", "official", "transfer") if protocol_refusal(self, p, "") is None]


def protocol_refusal(capabilities: Capabilities, protocol: str, method: str) -> str | None:
    """Why ``method`` does not run under split ``protocol`` (its cells are skipped with this reason), or None."""
    if protocol not in ("official", "transfer"):
        return None
    if not capabilities.anomaly_detector:
        return (
            f"the {protocol} protocol scores anomaly detectors, fitted on normal images only (or none); "
            f"{method or 'this method'} is a classifier that needs labelled defective images"
        )
    if protocol == "transfer" and capabilities.reference_shots:
        return (
            f"the transfer protocol gives a method no image of the target dataset; {method or 'this method'} "
            "draws its normal reference shots from the training images of the objects it scores"
        )
    return None


def task_refusal(capabilities: Capabilities, task: Task, method: str) -> str | None:
    """Why ``method`` does not run the ``task`` (its cells of that task are skipped with this reason), or None."""
    if capabilities.binary_only and task is not Task.BINARY:
        return (
            f"{method or 'this method'} scores how anomalous an image is but cannot tell defect types apart: "
            f"it runs the binary task (normal vs defect) only, not {task.value}"
        )
    return None


class MethodOptions(BaseModel):
    """Base for per-method options. Unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


ProgressCallback = Callable[[str, int, int], None]


def _no_progress(description: str, completed: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class MethodContext:
    """Everything about the run a method may use besides its data and options."""

    device: str = "cpu"
    seed: int = 0
    deterministic: bool = False
    profile: str = "quick"
    cache_dir: Path = Path(".cache/asebench")
    amp: bool = False
    num_workers: int = 0
    progress: ProgressCallback = _no_progress
    # the run lets ``weights: auto`` fetch the checkpoint timm or open_clip names when no local source
    # has it (``asebench run --allow-download``); off by default, so nothing is downloaded unasked
    allow_download: bool = False


@dataclass(frozen=True)
class SplitView:
    """One part of a split for one task, as a method sees it."""

    samples: tuple[Sample, ...]
    class_names: tuple[str, ...]
    task: Task
    normal_index: int | None
    dataset_name: str
    dataset_fingerprint: str
    augmentation: AugmentationPolicy

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def ids(self) -> list[str]:
        """Sample ids in split order, the order of every array a method returns."""
        return [sample.id for sample in self.samples]

    @property
    def num_classes(self) -> int:
        """Classes of the task, including those with no sample in this split."""
        return len(self.class_names)


@dataclass(frozen=True)
class LabeledSplit(SplitView):
    """Train or validation data: samples with integer labels for the task."""

    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def class_counts(self) -> np.ndarray:
        """Samples per label (zeros included), e.g. for class weights or a majority vote."""
        return np.bincount(self.labels, minlength=self.num_classes)


@dataclass(frozen=True)
class UnlabeledSplit(SplitView):
    """Test data: the samples' labels are blanked so a method cannot read them."""


def split_view(
    samples: Sequence[Sample],
    class_names: Sequence[str],
    labels: Sequence[int] | np.ndarray | None = None,
    *,
    task: Task = Task.MULTICLASS,
    normal_index: int | None = 0,
    dataset_name: str = "in-memory",
    dataset_fingerprint: str = "0" * 64,
) -> LabeledSplit | UnlabeledSplit:
    """A split view made by hand (labelled when ``labels`` are given), e.g. to unit-test a method without a dataset."""
    common: dict[str, Any] = {
        "samples": tuple(samples),
        "class_names": tuple(class_names),
        "task": task,
        "normal_index": normal_index,
        "dataset_name": dataset_name,
        "dataset_fingerprint": dataset_fingerprint,
        "augmentation": AugmentationPolicy(),
    }
    if labels is None:
        return UnlabeledSplit(**common)
    return LabeledSplit(labels=np.asarray(labels, dtype=np.int64), **common)


def make_views(
    dataset: LoadedDataset, task: Task, indices: Sequence[np.ndarray]
) -> tuple[LabeledSplit, LabeledSplit, UnlabeledSplit]:
    """Build the (train, val, test) views of ``dataset`` for ``task``; test labels are blanked."""
    labels = dataset.labels(task)
    class_names = dataset.task_class_names(task)
    normal_index: int | None = 0 if task is Task.BINARY else None
    if task is Task.MULTICLASS and dataset.normal_class is not None:
        normal_index = class_names.index(dataset.normal_class)
    common: dict[str, Any] = {
        "class_names": class_names,
        "task": task,
        "normal_index": normal_index,
        "dataset_name": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "augmentation": dataset.augmentation,
    }
    train_idx, val_idx, test_idx = indices
    train = LabeledSplit(samples=tuple(dataset.samples[i] for i in train_idx), labels=labels[train_idx], **common)
    val = LabeledSplit(samples=tuple(dataset.samples[i] for i in val_idx), labels=labels[val_idx], **common)
    hidden = tuple(replace(dataset.samples[i], label="") for i in test_idx)
    return train, val, UnlabeledSplit(samples=hidden, **common)


@dataclass(frozen=True)
class Predictions:
    """A method's output on the test split, in the order of its samples."""

    labels: np.ndarray
    probabilities: np.ndarray | None = None
    features: np.ndarray | None = None  # learned test embeddings (N x D), stored beside the record for t-SNE
    anomaly_scores: np.ndarray | None = None  # image-level anomaly score (N,), higher = more anomalous
    anomaly_maps: np.ndarray | None = None  # pixel-level anomaly maps (N x H x W), any resolution
    # Numbers the method read off each test image (OCR): key -> (N,) floats, NaN where unread.
    # Scored against the dataset's ground truth where its samples' metadata carries the same keys.
    readings: Mapping[str, np.ndarray] | None = None

    @classmethod
    def from_labels(cls, labels: Sequence[int] | np.ndarray) -> Predictions:
        """Hard labels only, for a method that has no scores to report."""
        return cls(labels=np.asarray(labels, dtype=np.int64))

    @classmethod
    def from_probabilities(cls, probabilities: np.ndarray) -> Predictions:
        """Labels as the argmax of (N, K) class probabilities, which are kept with them."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        return cls(labels=probabilities.argmax(axis=1), probabilities=probabilities)

    def validate(self, num_samples: int, num_classes: int) -> None:
        """Reject predictions that do not fit the test split (a plugin bug)."""
        if self.labels.shape != (num_samples,):
            raise ValueError(f"method returned {self.labels.shape} labels for {num_samples} test samples")
        if num_samples and (self.labels.min() < 0 or self.labels.max() >= num_classes):
            raise ValueError(f"method returned a label outside 0..{num_classes - 1}")
        if self.probabilities is not None:
            if self.probabilities.shape != (num_samples, num_classes):
                raise ValueError(
                    f"probabilities have shape {self.probabilities.shape}, expected ({num_samples}, {num_classes})"
                )
            if not np.isfinite(self.probabilities).all():
                raise ValueError("method returned non-finite probabilities")
        if self.features is not None and (self.features.ndim != 2 or len(self.features) != num_samples):
            raise ValueError(f"features must be an (N, D) array with N = {num_samples}, got {self.features.shape}")
        if self.anomaly_scores is not None and self.anomaly_scores.shape != (num_samples,):
            raise ValueError(f"anomaly_scores must have shape ({num_samples},), got {self.anomaly_scores.shape}")
        if self.anomaly_maps is not None and (self.anomaly_maps.ndim != 3 or len(self.anomaly_maps) != num_samples):
            raise ValueError(
                f"anomaly_maps must be an (N, H, W) array with N = {num_samples}, got {self.anomaly_maps.shape}"
            )
        for key, values in (self.readings or {}).items():
            if np.shape(values) != (num_samples,):
                raise ValueError(f"readings[{key!r}] must have shape ({num_samples},), got {np.shape(values)}")


class Method(ABC):
    """Base class of every method plugin.

    Set the class attributes, optionally declare an ``Options`` model (a
    :class:`MethodOptions` subclass), implement :meth:`fit` and
    :meth:`predict`. Import heavy libraries (torch, timm) inside the methods,
    not at module level, so that ``asebench list`` stays fast.
    """

    family: ClassVar[str] = "other"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    # The benchmark's own (the paper's) model: reports list it as "Ours" and tabulate the ablation
    # of its variants. Recorded as ``record["method"]["proposed"]``, outside the cell's config hash.
    proposed: ClassVar[bool] = False
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    # Files beside the class's module whose content is part of the method's code identity (prompt
    # files, a module imported dynamically): paths relative to the module's folder, a folder meaning
    # every file in it. Its modules and the ones they import are found without being named here.
    code_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: MethodOptions | None = None, context: MethodContext | None = None) -> None:
        self.options = options if options is not None else self.Options()
        self.context = context if context is not None else MethodContext()

    @classmethod
    def availability(cls, options: MethodOptions, allow_download: bool = False) -> str | None:
        """Why this method cannot run here (missing weights or extra), or None when it can.

        ``allow_download`` is the run's switch (:attr:`MethodContext.allow_download`): with it, missing
        pretrained weights may be fetched here, once, before any cell runs. An override without the
        parameter is called without it.
        """
        return None

    @abstractmethod
    def fit(self, train: LabeledSplit, val: LabeledSplit) -> None:
        """Learn from ``train``; ``val`` is for model selection only."""

    @abstractmethod
    def predict(self, test: UnlabeledSplit) -> Predictions:
        """Classify every test sample."""

    def predict_episode(self, support: LabeledSplit, query: UnlabeledSplit) -> Predictions:
        """Episodic methods (``capabilities.episodic``): adapt to ``support``, classify ``query``.

        Called by the runner after :meth:`fit` for every evaluation episode it
        draws (support from the training split, query from the test split).
        """
        raise NotImplementedError(f"{type(self).__name__} declares episodic but has no predict_episode")

    def modules(self) -> Sequence[Any]:
        """The torch ``nn.Module`` objects that run at predict time, for the runner's parameter count.

        Empty (the default) means "not reported". Trainable parameters are those
        with ``requires_grad`` at predict time, so freeze what the method froze.
        """
        return ()

    def provenance(self) -> dict[str, Any]:
        """Weights hashes, preprocessing and anything else needed to reproduce the row."""
        return {}

    def placeholder_weights(self) -> bool:
        """Whether this instance runs on random-init stand-in weights (a test setting).

        Its numbers then only show that the plumbing works, and reports flag
        them. Recorded as ``record["method"]["placeholder_weights"]`` after
        :meth:`fit`, outside the cell's config hash.
        """
        return False
