"""Expanding a run config into cells: methods x datasets x tasks x seeds x folds.

Planning resolves names, validates every method's and dataset's options and
computes each cell's config hash *before* anything runs, so a typo in the
last method's options fails in the first second, not after an hour.

Under the per-category anomaly protocols (``official``, ``transfer``; see
:mod:`asebench.run.splits`) the folds are the dataset's categories in sorted
order, only the binary task runs (normal vs defect: the anomaly metrics of a
multiclass cell would be the same numbers again), and a method that is no
anomaly detector is planned as unavailable, so its cells are skipped with the
reason (``Capabilities.anomaly_detector``). Under ``transfer`` the source
dataset (``split.train``) is loaded besides the run's datasets and its
fingerprint is part of every cell's config hash.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from asebench.api.data import AdapterOptions, DatasetAdapter, LoadedDataset, Task
from asebench.api.errors import ConfigError, PluginError, UnknownNameError
from asebench.api.method import Method, MethodOptions, protocol_refusal, task_refusal
from asebench.api.records import CellKey, CodeIdentity
from asebench.api.registry import DATASETS, METHODS, BrokenPlugin
from asebench.run.code_identity import CodeHasher, code_identity
from asebench.run.config import RunConfig, format_validation_error
from asebench.run.splits import protocol_categories
from asebench.store.hashing import stable_hash


@dataclass(frozen=True)
class MethodPlan:
    """A selected method: its class, validated options and unavailability reason."""

    name: str
    cls: type[Method]
    options: MethodOptions
    unavailable: str | None
    code: CodeIdentity  # the source the method is built from: editing it names new cells

    def describe(self) -> dict[str, Any]:
        """The method's part of the cell identity (and of its record): class, version, options and code."""
        return {
            "name": self.name,
            "family": self.cls.family,
            "version": self.cls.version,
            "class": f"{self.cls.__module__}:{self.cls.__qualname__}",
            "options": self.options.model_dump(mode="json"),
            "capabilities": self.cls.capabilities.labels(),
            "code": self.code,
        }


@dataclass(frozen=True)
class DatasetPlan:
    """A selected dataset adapter with validated options."""

    name: str
    adapter: DatasetAdapter


@dataclass(frozen=True)
class CellPlan:
    key: CellKey
    method: MethodPlan
    dataset: str
    task: Task
    seed: int
    fold: int

    @property
    def skip_reason(self) -> str | None:
        """Why this cell is skipped instead of run (the method is unavailable or refuses the task), or None."""
        return self.method.unavailable or task_refusal(self.method.cls.capabilities, self.task, self.method.name)


def plan_methods(config: RunConfig) -> list[MethodPlan]:
    """Resolve ``config.methods`` (names, globs, ``all``, custom methods) and validate options."""
    for name, custom in config.custom_methods.items():
        if name in METHODS.names():
            raise ConfigError(f"custom_methods.{name}: the name is already a registered method")
        _check_known(custom.base, f"custom_methods.{name}.base")
    _check_sweeps(config)
    customs = config.all_custom_methods()
    names = METHODS.resolve(config.methods, extra_names=customs)
    for name in config.method_options:
        if name not in names and name not in customs:
            _check_known(name, f"method_options.{name}")
    explicit = {token.strip() for item in config.methods for token in item.split(",")}
    plans = []
    hasher = CodeHasher()  # classes behind several names, and files behind several classes, are hashed once
    for name in names:
        try:
            plans.append(plan_method(name, config, hasher))
        except PluginError as exc:
            if name in explicit:
                raise
            METHODS.record_broken(BrokenPlugin(f"method {name}", str(exc)))  # matched by a glob: skip it
    return plans


def _check_sweeps(config: RunConfig) -> None:
    """Every sweep names a known method and options that method has; each variant's options validate."""
    for base, grid in config.sweeps.items():
        custom = config.custom_methods.get(base)
        _check_known(custom.base if custom else base, f"sweeps.{base}")
        fields = METHODS.get(METHODS.entry(custom.base if custom else base).name).Options.model_fields
        unknown = sorted(set(grid) - set(fields))
        if unknown:
            raise ConfigError(
                f"sweeps.{base}: unknown option(s) {', '.join(unknown)}; {base} has {', '.join(sorted(fields))}"
            )
    for name, custom in config.all_custom_methods().items():
        if name not in config.custom_methods:
            plan_options(name, custom.base, custom.options, config)


def plan_options(name: str, base: str, preset: dict[str, Any], config: RunConfig) -> MethodOptions:
    """The validated options of ``name`` (registered defaults, then ``preset``, then ``method_options``)."""
    entry = METHODS.entry(base)
    cls = METHODS.get(entry.name)
    values = {**entry.defaults, **preset, **config.method_options.get(name, {})}
    try:
        return cls.Options.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"method_options.{name}")) from exc


def _check_known(name: str, where: str) -> None:
    try:
        METHODS.entry(name)
    except UnknownNameError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def plan_method(name: str, config: RunConfig, hasher: CodeHasher | None = None) -> MethodPlan:
    """One method (registered or custom) with validated options; workers plan only the cell they run."""
    custom = config.all_custom_methods().get(name)
    entry = METHODS.entry(custom.base if custom else name)
    cls = METHODS.get(entry.name)
    options = plan_options(name, entry.name, custom.options if custom else {}, config)
    unavailable = method_availability(cls, options, config.allow_download) or protocol_refusal(
        cls.capabilities, config.split.protocol, name
    )
    return MethodPlan(name, cls, options, unavailable, (hasher or CodeHasher()).identity(cls))


def method_availability(cls: type[Method], options: MethodOptions, allow_download: bool) -> str | None:
    """``cls.availability``, told whether the run allows downloads when it takes the switch (older plugins do not)."""
    if allow_download and "allow_download" in inspect.signature(cls.availability).parameters:
        return cls.availability(options, allow_download=True)
    return cls.availability(options)


def split_dataset_specs(specs: list[str]) -> tuple[list[str], dict[str, str]]:
    """``mvtec:/data/mvtec`` means dataset ``mvtec`` with option ``root=/data/mvtec``."""
    names, roots = [], {}
    for item in specs:
        for token in filter(None, (t.strip() for t in item.split(","))):
            name, separator, root = token.partition(":")
            names.append(name)
            if separator:
                roots[name] = root
    return names, roots


def plan_datasets(config: RunConfig) -> list[DatasetPlan]:
    """Resolve dataset names (``name`` or ``name:ROOT``) and validate their options."""
    names, roots = split_dataset_specs(config.datasets)
    names = DATASETS.resolve(names)
    for name in config.dataset_options:
        if name not in names:
            try:
                DATASETS.entry(name)
            except UnknownNameError as exc:
                raise ConfigError(f"dataset_options.{name}: {exc}") from exc
    return [_plan_dataset(name, config, roots.get(name)) for name in names]


def plan_source(config: RunConfig) -> DatasetPlan | None:
    """The dataset a ``transfer`` run fits on (``split.train``, ``name`` or ``name:ROOT``); None otherwise."""
    if config.split.protocol != "transfer" or not config.split.train:
        return None
    names, roots = split_dataset_specs([config.split.train])
    if len(names) != 1:
        raise ConfigError(f"split.train: name one dataset to fit on, got {config.split.train!r}")
    try:
        DATASETS.entry(names[0])
    except UnknownNameError as exc:
        raise ConfigError(f"split.train: {exc}") from exc
    return _plan_dataset(names[0], config, roots.get(names[0]))


def _plan_dataset(name: str, config: RunConfig, root: str | None) -> DatasetPlan:
    entry = DATASETS.entry(name)
    cls = DATASETS.get(name)
    values = {**entry.defaults, **config.dataset_options.get(name, {})}
    if root is not None:
        values["root"] = root
    try:
        options: AdapterOptions = cls.Options.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"dataset_options.{name}")) from exc
    return DatasetPlan(name, cls(options))


def dataset_code(dataset: LoadedDataset) -> CodeIdentity | None:
    """The code identity of the adapter that loaded ``dataset`` (None for a dataset built by hand)."""
    return None if dataset.adapter_type is None else code_identity(dataset.adapter_type)


def describe_dataset(dataset: LoadedDataset, adapter_code: CodeIdentity | None = None) -> dict[str, Any]:
    """A dataset's part of the cell identity: name, version, fingerprint, options, augmentation, code."""
    return {
        "name": dataset.name,
        "version": dataset.version,
        "fingerprint": dataset.fingerprint,
        "options": dict(dataset.options),
        "augmentation": vars(dataset.augmentation),
        "code": adapter_code or dataset_code(dataset),
    }


def cell_config_hash(
    method: MethodPlan,
    dataset: LoadedDataset,
    config: RunConfig,
    adapter_code: CodeIdentity | None = None,
    source: LoadedDataset | None = None,
) -> str:
    """Hash of everything that can change a cell's result except its seed/fold.

    ``adapter_code`` is :func:`dataset_code` of ``dataset``, when the caller computed it already;
    ``source`` is the dataset a ``transfer`` cell is fitted on (its identity is hashed too).
    """
    identity: dict[str, Any] = {
        "method": method.describe(),
        "dataset": describe_dataset(dataset, adapter_code),
        "split": config.split.model_dump(mode="json"),
        "profile": config.profile,
        "deterministic": config.deterministic,
    }
    if source is not None:
        identity["source_dataset"] = describe_dataset(source)
    return stable_hash(identity, length=10)


def plan_tasks(config: RunConfig, dataset: LoadedDataset) -> list[Task]:
    """The tasks a dataset's cells run: the configured ones it supports; per-category protocols: binary only."""
    tasks = [task for task in config.tasks if task in dataset.tasks]
    if not config.split.per_category:
        return tasks
    if Task.BINARY not in tasks:
        raise ConfigError(
            f"the {config.split.protocol} protocol scores normal vs defect: it runs the binary task only "
            f"(tasks: {', '.join(t.value for t in config.tasks)}; dataset {dataset.name!r} "
            f"{'has' if Task.BINARY in dataset.tasks else 'has no'} normal class)"
        )
    return [Task.BINARY]


def fold_ids(config: RunConfig, dataset: LoadedDataset, name: str) -> list[int]:
    """The folds of a dataset's cells: the configured ones, or one per category under ``official``/``transfer``."""
    if not config.split.per_category:
        return config.split.fold_ids()
    return list(range(len(protocol_categories(dataset.samples, config.split.protocol, name))))


def plan_cells(
    config: RunConfig,
    methods: list[MethodPlan],
    datasets: dict[str, LoadedDataset],
    source: LoadedDataset | None = None,
) -> list[CellPlan]:
    """All cells, grouped by (dataset, seed, fold) so each split is drawn once (``source``: a transfer's)."""
    cells = []
    for dataset_name, dataset in datasets.items():
        tasks = plan_tasks(config, dataset)
        adapter_code = dataset_code(dataset)
        hashes = {m.name: cell_config_hash(m, dataset, config, adapter_code, source) for m in methods}
        for seed in config.seeds:
            for fold in fold_ids(config, dataset, dataset_name):
                for task in tasks:
                    for method in methods:
                        key = CellKey(
                            method=method.name,
                            dataset=dataset_name,
                            task=task.value,
                            seed=seed,
                            fold=fold,
                            config_hash=hashes[method.name],
                        )
                        cells.append(CellPlan(key, method, dataset_name, task, seed, fold))
    return cells
