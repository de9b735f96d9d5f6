"""``--datasets name:ROOT`` sets the adapter's root option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asebench.run.config import RunConfig
from asebench.run.grid import plan_datasets, split_dataset_specs


def test_split_dataset_specs() -> None:
    names, roots = split_dataset_specs(["ase-synth, folder:/data/x", "neu-det"])
    assert names == ["ase-synth", "folder", "neu-det"]
    assert roots == {"folder": "/data/x"}


def test_name_colon_root_reaches_the_adapter(tiny_folder_dataset: Any) -> None:
    root: Path = tiny_folder_dataset()
    [plan] = plan_datasets(RunConfig(datasets=[f"folder:{root}"]))
    assert plan.name == "folder" and Path(plan.adapter.options.root) == root
