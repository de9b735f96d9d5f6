"""What a plugin author imports: the method and dataset contracts, the registries, errors, images and the record schema.

Contracts only: nothing here runs a grid, scores a cell or writes a report.
The names below are the stable surface; the submodules hold the details.
"""

from asebench.api.data import (
    AdapterOptions,
    AugmentationPolicy,
    DatasetAdapter,
    LoadedDataset,
    Sample,
    Task,
)
from asebench.api.errors import AsebenchError, ConfigError, DatasetError, MethodUnavailable, PluginError
from asebench.api.imaging import load_image
from asebench.api.method import (
    Capabilities,
    LabeledSplit,
    Method,
    MethodContext,
    MethodOptions,
    Predictions,
    SplitView,
    UnlabeledSplit,
    split_view,
)
from asebench.api.records import CellKey, CellRecord
from asebench.api.registry import register_dataset, register_method

__all__ = [
    "AdapterOptions",
    "AsebenchError",
    "AugmentationPolicy",
    "Capabilities",
    "CellKey",
    "CellRecord",
    "ConfigError",
    "DatasetAdapter",
    "DatasetError",
    "LabeledSplit",
    "LoadedDataset",
    "Method",
    "MethodContext",
    "MethodOptions",
    "MethodUnavailable",
    "PluginError",
    "Predictions",
    "Sample",
    "SplitView",
    "Task",
    "UnlabeledSplit",
    "load_image",
    "register_dataset",
    "register_method",
    "split_view",
]
