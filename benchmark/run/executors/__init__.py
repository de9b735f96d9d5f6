"""Where cells run: in this process, in a local process pool, or on a Ray cluster.

``EXECUTORS`` maps the config's ``executor`` name to its class. Importing
this package never imports Ray; the Ray executor does that when it is built.
"""

from __future__ import annotations

from asebench.run.executors.base import CellOutcome, Executor, RetryQueue
from asebench.run.executors.local import LocalExecutor
from asebench.run.executors.process import ProcessExecutor
from asebench.run.executors.ray_executor import RayExecutor

EXECUTORS: dict[str, type[Executor]] = {
    LocalExecutor.name: LocalExecutor,
    ProcessExecutor.name: ProcessExecutor,
    RayExecutor.name: RayExecutor,
}

__all__ = ["EXECUTORS", "CellOutcome", "Executor", "LocalExecutor", "ProcessExecutor", "RayExecutor", "RetryQueue"]
