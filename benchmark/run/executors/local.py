"""The default executor: cells one after the other in this process (what ``make run`` uses).

No pickling and no second interpreter, so methods report live progress and a
run of ``majority`` never imports torch. A crash here ends the run; the
records written so far stay, and the next run resumes after them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from asebench.run.executors.base import CellOutcome, Executor, JobStarted
from asebench.run.jobs import CellJob, describe_error


class LocalExecutor(Executor):
    name = "local"

    def run(self, jobs: Sequence[CellJob], started: JobStarted) -> Iterator[CellOutcome]:
        for job in jobs:
            started(job)
            try:
                result = self.bench.run(job.key)
            except Exception as exc:  # noqa: BLE001 - setting one cell up failed (plugin, dataset); the other cells go on
                yield CellOutcome(job, 1, error=describe_error(exc))
                continue
            yield CellOutcome(job, 1, result=result)

    def close(self) -> None:
        """Nothing to release: every cell ran in this process."""
