"""One cell as a unit of work: a small picklable job, and the code that runs it in any process.

The parent process plans the grid and owns the run directory. A
:class:`CellJob` carries only what a worker cannot know by itself: the resolved
config (as JSON), the cell key, the plugins to import, the environment that
locates the shared caches (``ASEBENCH_CACHE_DIR`` and offline switches) and the
device to use -- never image arrays. A worker (this process, a spawned pool
process, a Ray task on another node) rebuilds the dataset from its adapter,
reading the cache when the storage is shared and regenerating it otherwise,
checks that the cell's config hash is the one the parent planned, and returns
the :class:`~asebench.run.cell.CellResult`; the parent writes it.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from asebench.api.data import LoadedDataset, Task
from asebench.api.errors import DatasetError, PluginError, ResultsError
from asebench.api.imaging import verify_images
from asebench.api.method import Capabilities, MethodContext, ProgressCallback
from asebench.api.plugins import load_plugin
from asebench.api.records import CellKey
from asebench.api.reproducibility import select_device
from asebench.run.cell import CellResult, execute_cell
from asebench.run.config import RunConfig
from asebench.run.grid import (
    CellPlan,
    DatasetPlan,
    MethodPlan,
    cell_config_hash,
    plan_datasets,
    plan_method,
    plan_source,
)
from asebench.run.splits import Split, make_split, official_split, protocol_categories, transfer_split
from asebench.store.paths import cache_dir, cache_root

FORWARDED_PREFIXES = ("ASEBENCH_",)
FORWARDED_NAMES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""The thread-count variables libraries read when they load."""


def load_dataset(plan: DatasetPlan) -> LoadedDataset:
    """Load an adapter and make sure every image decodes (once per content fingerprint)."""
    reason = plan.adapter.availability(plan.adapter.options)
    if reason:
        raise DatasetError(f"dataset {plan.name!r} is not available: {reason}")
    dataset = plan.adapter.load()
    marker = cache_root() / "verified" / dataset.fingerprint
    if not marker.exists():
        verify_images(dataset.samples, source=f"dataset {plan.name!r}")
        cache_dir("verified")
        marker.touch()
    return dataset


def worker_environment() -> tuple[tuple[str, str], ...]:
    """The variables a worker needs to share this process's caches and settings.

    Ray workers keep the environment of the moment the cluster started, and
    workers on other nodes have their own, so the cache root is passed as an
    absolute path rather than trusted to be inherited.
    """
    values = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(FORWARDED_PREFIXES) or name in FORWARDED_NAMES
    }
    values["ASEBENCH_CACHE_DIR"] = str(cache_root().absolute())
    return tuple(sorted(values.items()))


def plugin_specs(config: RunConfig) -> tuple[str, ...]:
    """``config.plugins`` with plugin files made absolute, so a worker in another directory finds them."""
    return tuple(
        str(Path(spec).expanduser().resolve()) if spec.endswith(".py") or Path(spec).is_file() else spec
        for spec in config.plugins
    )


@dataclass(frozen=True)
class CellJob:
    """Everything a worker needs to run one cell, small and picklable."""

    config_json: str
    key: CellKey
    plugins: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    device: str
    cwd: str
    # The method's results depend on the CPU thread count (see ``Capabilities.thread_invariant``): an executor
    # that shares the cores between cells runs this one alone, with all of them.
    wide: bool = False
    # CPU threads the worker sets before the cell (torch, BLAS, OpenMP); None keeps the worker's own.
    threads: int | None = None
    # The method reads the images' annotations (OCR, descriptions, texts): the longest one-time work of a
    # cold run, which workers that start such cells together split between them through the claims.
    annotates: bool = False

    # Long cells (``Capabilities.long_running``) start before short ones where workers share the cores.
    long: bool = False

    @classmethod
    def for_cells(cls, config: RunConfig, capabilities: Mapping[CellKey, Capabilities], device: str) -> list[CellJob]:
        """One job per cell, in the order given, with the scheduling traits its method's capabilities imply."""
        shared = (config.model_dump_json(), plugin_specs(config), worker_environment())
        return [
            cls(
                shared[0],
                key,
                shared[1],
                shared[2],
                device,
                os.getcwd(),
                wide=not traits.thread_invariant,
                annotates=traits.needs_text,
                long=traits.long_running,
            )
            for key, traits in capabilities.items()
        ]


class CellBench:
    """Runs the cells of one config in this process, loading each dataset and drawing each split once."""

    def __init__(
        self,
        config: RunConfig,
        device: str,
        datasets: dict[str, LoadedDataset] | None = None,
        methods: dict[str, MethodPlan] | None = None,
        progress: ProgressCallback = lambda description, completed, total: None,
    ) -> None:
        self.config = config
        self.device = device
        self.progress = progress
        self._datasets = dict(datasets or {})
        self._methods = dict(methods or {})
        self._splits: dict[tuple[str, int, int], Split] = {}
        self.source_plan = plan_source(config)  # transfer: the dataset methods are fitted on

    def dataset(self, name: str) -> LoadedDataset:
        if name not in self._datasets:
            plans = {plan.name: plan for plan in plan_datasets(self.config)}
            if self.source_plan is not None:
                plans[self.source_plan.name] = self.source_plan
            if name not in plans:
                raise DatasetError(f"dataset {name!r} is not part of this run's config")
            self._datasets[name] = load_dataset(plans[name])
        return self._datasets[name]

    def source(self) -> LoadedDataset | None:
        """The dataset a ``transfer`` run fits its methods on (None for every other protocol)."""
        return None if self.source_plan is None else self.dataset(self.source_plan.name)

    def fit_dataset(self, split: Split, dataset: str) -> LoadedDataset:
        """The dataset the split's train and val parts index: the transfer source, else the cell's own."""
        return self.dataset(split.source or dataset)

    def method(self, name: str) -> MethodPlan:
        if name not in self._methods:
            self._methods[name] = plan_method(name, self.config)
        return self._methods[name]

    def split(self, dataset: str, seed: int, fold: int) -> Split:
        split_config = self.config.split
        key = (dataset, 0, fold) if split_config.per_category else (dataset, seed, fold)  # official: seed-free
        if key not in self._splits:
            data = self.dataset(dataset)
            if split_config.per_category:
                category = protocol_categories(data.samples, split_config.protocol, dataset)[fold]
                source = self.source()
                if source is None or self.source_plan is None:
                    self._splits[key] = official_split(data.samples, data.normal_class, category, dataset)
                else:
                    self._splits[key] = transfer_split(
                        source.samples,
                        source.normal_class,
                        data.samples,
                        category,
                        split_config,
                        (self.source_plan.name, dataset),
                    )
            else:
                self._splits[key] = make_split(data.labels(Task.MULTICLASS), split_config, seed, fold)
        return self._splits[key]

    def plan(self, key: CellKey) -> CellPlan:
        """The cell of ``key``, refusing to run it when this process sees other data or code than the planner."""
        method, dataset = self.method(key.method), self.dataset(key.dataset)
        found = cell_config_hash(method, dataset, self.config, source=self.source())
        if found != key.config_hash:
            raise ResultsError(
                f"{key.label()}: this worker computes config hash {found}, the run planned {key.config_hash}; "
                "every machine of a sweep needs the same dataset files and asebench/plugin code"
            )
        return CellPlan(key, method, key.dataset, Task(key.task), key.seed, key.fold)

    def run(self, key: CellKey) -> CellResult:
        plan = self.plan(key)
        dataset = self.dataset(key.dataset)
        split = self.split(key.dataset, key.seed, key.fold)
        context = MethodContext(
            device=self.device,
            seed=plan.seed,
            deterministic=self.config.deterministic,
            profile=self.config.profile,
            cache_dir=cache_dir(),
            amp=self.config.amp and self.device.startswith("cuda"),
            num_workers=self.config.num_workers,
            progress=self.progress,
            allow_download=self.config.allow_download,
        )
        return execute_cell(plan, dataset, split, self.config, context, self.fit_dataset(split, key.dataset))


def run_job(job: CellJob) -> CellResult:
    """Run one job in a worker process (pool or Ray): top-level, so it pickles by reference."""
    os.environ.update(job.environment)
    if job.threads is not None:
        limit_threads(job.threads)
    if os.path.isdir(job.cwd):  # relative paths in the config mean what they meant where the run started
        os.chdir(job.cwd)
    for spec in job.plugins:
        broken = load_plugin(spec)
        if broken is not None:
            raise PluginError(f"in the worker: {broken.describe()}")
    return _bench(job.config_json, job.device).run(job.key)


@lru_cache(maxsize=2)
def _bench(config_json: str, device: str) -> CellBench:
    """One bench per worker process and config, so a worker loads (fingerprints) each dataset once, not per cell."""
    return CellBench(RunConfig.model_validate_json(config_json), select_device(device))


def limit_threads(threads: int) -> None:
    """Set this process's CPU thread count for what runs next: torch, the BLAS/OpenMP pools, later imports.

    Libraries read ``OMP_NUM_THREADS`` and friends when they load, so the
    variables cover what a cell imports later; the pools already loaded are
    set directly (threadpoolctl, a scikit-learn dependency), and torch too
    when it is loaded (a majority-only worker never imports it).
    """
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # called, not entered: the limits stay until the next call
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def describe_error(exc: BaseException) -> dict[str, Any]:
    """The ``error`` field of a record for an exception raised outside a method."""
    return {
        "type": type(exc).__name__,
        "message": str(exc) or type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc)[-6:]),
    }
