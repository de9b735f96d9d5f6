"""The executor contract: hand cell jobs to workers, get each finished cell back as it completes.

The runner keeps planning, resume and the run directory; an executor only
decides where jobs run. Each job comes back exactly once, as a result or as
the reason it has none. A job whose *worker* died (killed process, lost node,
out of memory) is the executor's to retry, at most ``config.max_retries``
times; an exception a job raises itself is reported at once, since running it
again would raise it again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar

from asebench.api.records import CellKey
from asebench.api.reproducibility import select_device
from asebench.run.cell import CellResult
from asebench.run.config import RunConfig
from asebench.run.jobs import CellBench, CellJob

JobStarted = Callable[[CellJob], None]


@dataclass(frozen=True)
class CellOutcome:
    """A job that is done for good: its result or the error that replaced it, and how often it was started."""

    job: CellJob
    attempts: int
    result: CellResult | None = None
    error: dict[str, str] | None = None


class Executor(ABC):
    """Runs jobs somewhere and yields their outcomes in completion order."""

    name: ClassVar[str]

    def __init__(self, config: RunConfig, bench: CellBench) -> None:
        self.config = config
        self.bench = bench

    @classmethod
    def parent_device(cls, config: RunConfig) -> str:
        """The device as the submitting process resolves it (workers on this machine use the same)."""
        return select_device(config.device)

    @abstractmethod
    def run(self, jobs: Sequence[CellJob], started: JobStarted) -> Iterator[CellOutcome]:
        """Yield one outcome per job; call ``started(job)`` when a job is handed to a worker."""

    @abstractmethod
    def close(self) -> None:
        """Release workers and connections (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class RetryQueue:
    """Jobs waiting for a worker, and how often each was started.

    A job whose worker died goes back to the front of the queue until it has
    had ``1 + max_retries`` attempts; then it becomes a failed outcome that
    names the last cause.
    """

    def __init__(self, jobs: Sequence[CellJob], max_retries: int) -> None:
        self.waiting: deque[CellJob] = deque(jobs)
        self.max_retries = max_retries
        self.started: dict[CellKey, int] = {}

    def __bool__(self) -> bool:
        return bool(self.waiting)

    def pop(self) -> CellJob:
        job = self.waiting.popleft()
        self.started[job.key] = self.attempts(job) + 1
        return job

    def pop_first(self, wanted: Callable[[CellJob], bool]) -> CellJob | None:
        """Take the first waiting job that ``wanted`` accepts (None if there is none), keeping the others' order."""
        for job in self.waiting:
            if wanted(job):
                self.waiting.remove(job)
                self.started[job.key] = self.attempts(job) + 1
                return job
        return None

    def attempts(self, job: CellJob) -> int:
        return self.started.get(job.key, 0)

    def finished(self, job: CellJob, result: CellResult) -> CellOutcome:
        return CellOutcome(job, self.attempts(job), result=result)

    def raised(self, job: CellJob, error: dict[str, str]) -> CellOutcome:
        return CellOutcome(job, self.attempts(job), error=error)

    def worker_died(self, job: CellJob, reason: str) -> CellOutcome | None:
        """Requeue ``job`` if it has attempts left, else return its failed outcome."""
        attempts = self.attempts(job)
        if attempts <= self.max_retries:
            self.waiting.appendleft(job)
            return None
        message = (
            f"the worker running this cell died on all {attempts} attempt(s) (max_retries={self.max_retries}): {reason}"
        )
        return CellOutcome(job, attempts, error={"type": "WorkerDied", "message": message, "traceback": ""})
