"""The run configuration: typed, validated, and dumped with every run.

A run is described by one :class:`RunConfig`. It comes from defaults, an
optional YAML/TOML file (``--config``) and command-line overrides, in that
order. Unknown keys anywhere are errors that name the key, so a typo never
silently falls back to a default.

Example ``run.yaml``::

    methods: [majority, cnn]
    datasets: [ase-synth]
    seeds: [0, 1, 2]
    split: {protocol: kfold, folds: 5}   # or official | transfer (see asebench.run.splits)
    method_options:
      cnn: {epochs: 20, image_size: 160}
    dataset_options:
      ase-synth: {separation: 0.8}
    custom_methods:
      effnet-b0-probe: {base: cnn, options: {model: efficientnet_b0}}
    sweeps:                  # one custom method per value: patchcore@k=1, patchcore@k=2, ...
      patchcore: {k: [1, 2, 4, 8]}
    executor: ray            # local (default), process or ray
    ray_address: auto        # ray only: an existing cluster; omit to start a local one
    max_retries: 2           # retries of a cell whose worker died
    efficiency: false        # skip the extra timing passes (no efficiency block in the records)
    allow_download: true     # weights: auto may fetch timm's / open_clip's pretrained weights (default false)
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from asebench.api.data import Task
from asebench.api.errors import ConfigError
from asebench.run.episodes import EpisodeConfig
from asebench.run.splits import SplitConfig
from asebench.scoring.records import BootstrapConfig
from asebench.scoring.tail import TailConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser from PyPI (a dependency there only)
    import tomli as tomllib


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomMethod(_Strict):
    """A new method name made from a registered one with other preset options."""

    base: str
    options: dict[str, Any] = Field(default_factory=dict)


SweepValue = bool | int | float | str | None
SWEEP_SEPARATOR = "@"  # patchcore@k=1: the base method, then option=value pairs joined by "@"


def sweep_value_text(value: SweepValue) -> str:
    """How a swept value reads in a method name: ``true``, ``none``, ``0.5``, ``mean-normalise``."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return str(value)


def sweep_name(base: str, assignment: dict[str, SweepValue]) -> str:
    """``patchcore@k=1``; several options in name order: ``winclip@prototype=mean-normalise@temperature=0.05``."""
    return base + "".join(
        f"{SWEEP_SEPARATOR}{key}={sweep_value_text(value)}" for key, value in sorted(assignment.items())
    )


def expand_sweeps(
    sweeps: dict[str, dict[str, list[SweepValue]]], custom_methods: dict[str, CustomMethod] | None = None
) -> dict[str, CustomMethod]:
    """One custom method per point of each sweep (the cartesian product of its option lists).

    A sweep over a custom method starts from that method's base and options.
    """
    out: dict[str, CustomMethod] = {}
    for base, grid in sweeps.items():
        start = (custom_methods or {}).get(base) or CustomMethod(base=base)
        keys = sorted(grid)
        for values in itertools.product(*(grid[key] for key in keys)):
            assignment = dict(zip(keys, values, strict=True))
            out[sweep_name(base, assignment)] = CustomMethod(base=start.base, options={**start.options, **assignment})
    return out


class RunConfig(_Strict):
    """Everything that defines a run. See the module docstring for a file example."""

    methods: list[str] = Field(default_factory=lambda: ["all"])
    datasets: list[str] = Field(default_factory=lambda: ["ase-synth"])
    tasks: list[Task] = Field(default_factory=lambda: [Task.BINARY, Task.MULTICLASS])
    seeds: list[int] = Field(default_factory=lambda: [0])
    split: SplitConfig = Field(default_factory=SplitConfig)
    device: str = "auto"
    deterministic: bool = False
    profile: Literal["quick", "paper"] = "quick"
    amp: bool = True
    num_workers: int = Field(0, ge=0)
    run_dir: Path = Path("runs/default")
    rerun: bool = False
    # reuse ok cells that another run on this machine and install computed (asebench.store.cell_cache)
    cell_cache: bool = True
    plugins: list[str] = Field(default_factory=list)
    method_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    dataset_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    custom_methods: dict[str, CustomMethod] = Field(default_factory=dict)
    # method -> option -> values: custom methods named by sweep_name, expanded before planning (all_custom_methods)
    sweeps: dict[str, dict[str, list[SweepValue]]] = Field(default_factory=dict)
    tail: TailConfig = Field(default_factory=TailConfig)
    episodes: EpisodeConfig = Field(default_factory=EpisodeConfig)
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    executor: Literal["local", "process", "ray"] = "local"
    workers: int | None = Field(None, ge=1)
    ray_address: str | None = None
    max_retries: int = Field(2, ge=0)
    cell_cpus: float | None = Field(None, gt=0)
    cell_gpus: float | None = Field(None, ge=0)
    # the runner's extra timing passes after each ok cell (asebench.run.efficiency); never part of a cell's hash
    efficiency: bool = True
    # ``weights: auto`` may download the checkpoint timm or open_clip names when no local source has it
    # (--allow-download, ASEBENCH_ALLOW_DOWNLOAD=1); not part of a cell's hash: the record has the file's sha256
    allow_download: bool = False

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError("device must be auto, cpu, cuda, cuda:N or mps")
        return value

    @field_validator("seeds", "tasks", "methods", "datasets")
    @classmethod
    def _not_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("sweeps")
    @classmethod
    def _sweeps_are_named_lists(
        cls, value: dict[str, dict[str, list[SweepValue]]]
    ) -> dict[str, dict[str, list[SweepValue]]]:
        """Each swept option has distinct values that read well in a method name (no ``,``, globs or blanks)."""
        for base, grid in value.items():
            if SWEEP_SEPARATOR in base:
                raise ValueError(f"{base}: sweep a registered or custom method, not a swept variant")
            if not grid:
                raise ValueError(f"{base}: name at least one option to sweep")
            for key, values in grid.items():
                if not values:
                    raise ValueError(f"{base}.{key}: give at least one value")
                texts = [sweep_value_text(v) for v in values]
                if len(set(texts)) < len(texts):
                    raise ValueError(f"{base}.{key}: values repeat ({', '.join(texts)})")
                bad = [t for t in texts if not t or re.search(r"[\s,*?\[\]@=/]", t)]
                if bad:
                    raise ValueError(
                        f"{base}.{key}: value {bad[0]!r} cannot be part of a method name (blank, ',', '@', '=', '/' "
                        "or glob characters); make a custom method for it instead"
                    )
        return value

    @model_validator(mode="after")
    def _sweep_names_are_free(self) -> RunConfig:
        """A swept variant's name must not also be a custom method's."""
        clash = sorted(set(expand_sweeps(self.sweeps)) & set(self.custom_methods))
        if clash:
            raise ValueError(f"custom_methods {', '.join(clash)}: the name is also a variant of sweeps")
        return self

    def all_custom_methods(self) -> dict[str, CustomMethod]:
        """``custom_methods`` and every swept variant (in sweep order after them): what planning resolves."""
        return {**self.custom_methods, **expand_sweeps(self.sweeps, self.custom_methods)}

    @model_validator(mode="before")
    @classmethod
    def _transfer_target_is_the_dataset(cls, data: Any) -> Any:
        """``split: {protocol: transfer, test: X}`` without ``datasets`` means ``datasets: [X]``."""
        if isinstance(data, dict) and "datasets" not in data:
            split = data.get("split")
            if isinstance(split, dict) and split.get("protocol") == "transfer" and split.get("test"):
                return {**data, "datasets": [split["test"]]}
        return data

    @model_validator(mode="after")
    def _transfer_datasets_differ(self) -> RunConfig:
        """The transfer source is loaded besides the run's datasets (the targets), never one of them."""
        if self.split.protocol != "transfer":
            return self
        targets = [
            token.strip().partition(":")[0] for item in self.datasets for token in item.split(",") if token.strip()
        ]
        source = (self.split.train or "").partition(":")[0]
        if source in targets:
            raise ValueError(
                f"split.train {source!r} is also a dataset of the run: the transfer protocol fits on one dataset "
                "and scores another (for two option sets of one adapter register a second name, as anomaly-synth-b)"
            )
        test = (self.split.test or "").partition(":")[0]
        if test and targets != [test]:
            raise ValueError(f"split.test names the target dataset {test!r}, but datasets are {targets}")
        return self

    @model_validator(mode="after")
    def _executor_settings_fit(self) -> RunConfig:
        """Settings of another executor are mistakes, not silently ignored values."""
        if self.ray_address is not None and self.executor != "ray":
            raise ValueError(f"ray_address is only used by executor 'ray' (executor is {self.executor!r})")
        if self.workers is not None and self.executor == "local":
            raise ValueError("workers needs executor 'process' or 'ray' (executor 'local' runs one cell at a time)")
        if self.workers is not None and self.ray_address is not None:
            raise ValueError("workers sizes a local Ray cluster; with ray_address the cluster's own resources decide")
        if self.executor != "ray" and (self.cell_cpus is not None or self.cell_gpus is not None):
            raise ValueError(f"cell_cpus and cell_gpus are Ray resource requests; executor is {self.executor!r}")
        return self


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML (safe loader) or TOML file into a plain dict."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {exc}"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def build_config(
    file_data: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None, source: str = "config"
) -> RunConfig:
    """Merge file values with CLI overrides (``None`` means "not given") and validate."""
    data = dict(file_data or {})
    data.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from exc


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem, naming the dotted key: ``run.yaml: unknown key 'split.fold'``."""
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key {key!r}")
        else:
            lines.append(f"{source}: {key}: {error['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)
