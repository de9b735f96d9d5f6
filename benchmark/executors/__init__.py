"""Where cells run: in this process, in a local process pool, or on a Ray cluster.

``EXECUTORS`` maps the config's ``executor`` name to its class. Importing
this package never imports Ray; the Ray executor does that when it is built.
"""

from __future__ import annotations

from asebench.executors.base import CellOutcome, Executor, RetryQueue
from asebench.executors.local import LocalExecutor
from asebench.executors.process import ProcessExecutor
from asebench.executors.ray_executor import RayExecutor

EXECUTORS: dict[str, type[Executor]] = {
    LocalExecutor.name: LocalExecutor,
    ProcessExecutor.name: ProcessExecutor,
    RayExecutor.name: RayExecutor,
}

__all__ = ["EXECUTORS", "CellOutcome", "Executor", "LocalExecutor", "ProcessExecutor", "RayExecutor", "RetryQueue"]
