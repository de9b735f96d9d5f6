"""Cells in a pool of spawned local processes: one worker per GPU, or N CPU workers sharing the cores.

Every worker is its own single-process ``ProcessPoolExecutor`` (spawn start
method, so no CUDA or thread state is forked). That makes a dead worker
unambiguous: only its own pool breaks, the cell it was running is the one to
retry (in a fresh worker), and the other workers keep going. Each worker gets
its environment before it runs anything -- ``CUDA_VISIBLE_DEVICES`` pinned to
one GPU, so torch, imported later by a method, sees that GPU as ``cuda`` --
and CPU thread counts that share the cores instead of oversubscribing them.

On a CPU the workers share the cores: a cell of a method whose results do
not depend on the thread count (``Capabilities.thread_invariant``) runs with
its share (one thread each on two cores and two workers), side by side with
another; any other cell waits until every worker is idle and runs alone with
all the cores, as the ``local`` executor would run it, so its numbers are the
same whichever executor ran it. Those "wide" cells run when no narrow cell is
left to start. Narrow cells that read the images' annotations start first:
on a cold cache the OCR of every image is the longest one-time work, and
workers that annotate at once split it (each claims the images the other is
not reading). Then the long ones (``Capabilities.long_running``: end-to-end
training), so that the run ends on short cells instead of one worker
finishing a long cell while the other idles.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from multiprocessing import get_context

from asebench.run.cell import CellResult
from asebench.run.config import RunConfig
from asebench.run.executors.base import CellOutcome, Executor, JobStarted, RetryQueue
from asebench.run.jobs import THREAD_VARIABLES, CellBench, CellJob, describe_error, limit_threads, run_job


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and Slurm set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def visible_gpus(device: str) -> list[str]:
    """CUDA device ids to pin workers to: none unless the run's device is CUDA.

    ``cuda:N`` means the N-th device this process sees, so all workers share
    that one; plain ``cuda`` spreads the workers over every visible device.
    """
    if not device.startswith("cuda"):
        return []
    import torch  # only here: the device is CUDA, so torch is installed and in use anyway

    count = torch.cuda.device_count()
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = (
        [item.strip() for item in listed.split(",") if item.strip()][:count]
        if listed
        else [str(i) for i in range(count)]
    )
    if ":" in device:
        return [ids[int(device.split(":", 1)[1])]]
    return ids


def worker_settings(index: int, workers: int, gpus: Sequence[str]) -> dict[str, str]:
    """Environment of worker ``index``: its GPU and its share of the CPU threads."""
    settings: dict[str, str] = {}
    if gpus:
        settings["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    threads = str(max(1, usable_cores() // workers))
    settings.update({name: threads for name in THREAD_VARIABLES if name not in os.environ})
    return settings


def _start_worker(settings: dict[str, str]) -> None:
    """Pool initializer: runs in the new process before any cell.

    CUDA reads ``CUDA_VISIBLE_DEVICES`` when it initialises (first use), so
    setting it here pins the worker even though spawn has already re-imported
    the parent's main module. Thread counts are read when a library loads,
    and numpy's BLAS is loaded by then, so the libraries already loaded are
    limited directly.
    """
    os.environ.update(settings)
    threads = settings.get("OMP_NUM_THREADS")
    if threads is not None:
        limit_threads(int(threads))


def user_threads() -> int | None:
    """The thread count the user fixed with ``OMP_NUM_THREADS`` (every cell then gets it), else None."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


class ProcessExecutor(Executor):
    name = "process"

    def __init__(self, config: RunConfig, bench: CellBench) -> None:
        super().__init__(config, bench)
        self.gpus = visible_gpus(bench.device)
        count = config.workers or len(self.gpus) or usable_cores()
        self.settings = [worker_settings(i, count, self.gpus) for i in range(count)]
        self.device = "cuda" if self.gpus else bench.device
        self.pools: list[ProcessPoolExecutor | None] = [None] * count
        self.context = get_context("spawn")
        # CPU workers share the cores: narrow cells get their share, wide ones all (see the module doc)
        self.shares_cores = not self.gpus and count > 1
        fixed = user_threads()
        self.narrow_threads = fixed or max(1, usable_cores() // count)
        self.wide_threads = fixed or usable_cores()

    def _pool(self, slot: int) -> ProcessPoolExecutor:
        pool = self.pools[slot]
        if pool is None:
            pool = ProcessPoolExecutor(
                1, mp_context=self.context, initializer=_start_worker, initargs=(self.settings[slot],)
            )
            self.pools[slot] = pool
        return pool

    def _discard(self, slot: int) -> None:
        pool, self.pools[slot] = self.pools[slot], None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, slot: int, job: CellJob) -> Future[CellResult]:
        try:
            return self._pool(slot).submit(run_job, replace(job, device=self.device))
        except BrokenProcessPool:  # the idle worker died (e.g. the OOM killer): start a fresh one
            self._discard(slot)
            return self._pool(slot).submit(run_job, replace(job, device=self.device))

    def next_job(self, queue: RetryQueue, running: Sequence[CellJob]) -> CellJob | None:
        """The job a free worker starts now, with its thread count, or None to wait (see the module doc)."""
        if not queue:
            return None
        if not self.shares_cores:
            return queue.pop()  # a worker per GPU: the cells do not share CPU threads
        if any(job.wide for job in running):
            return None
        # annotating cells first: on a cold cache every worker then reads images at once, splitting the OCR;
        # then long cells, so the run ends on short ones
        narrow = (
            queue.pop_first(lambda job: not job.wide and job.annotates)
            or queue.pop_first(lambda job: not job.wide and job.long)
            or queue.pop_first(lambda job: not job.wide)
        )
        if narrow is not None:
            return replace(narrow, threads=self.narrow_threads)
        if running:
            return None  # only wide cells are left: each waits for every worker to be idle
        wide = queue.pop_first(lambda job: job.wide)
        return None if wide is None else replace(wide, threads=self.wide_threads)

    def run(self, jobs: Sequence[CellJob], started: JobStarted) -> Iterator[CellOutcome]:
        queue = RetryQueue(jobs, self.config.max_retries)
        running: dict[Future[CellResult], tuple[int, CellJob]] = {}
        idle = list(range(len(self.pools)))
        try:
            while queue or running:
                while idle and (job := self.next_job(queue, [job for _, job in running.values()])) is not None:
                    slot = idle.pop(0)
                    running[self._submit(slot, job)] = (slot, job)
                    started(job)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    slot, job = running.pop(future)
                    idle.append(slot)
                    outcome = self._collect(future, slot, job, queue)
                    if outcome is not None:
                        yield outcome
        finally:
            self.close()

    def _collect(self, future: Future[CellResult], slot: int, job: CellJob, queue: RetryQueue) -> CellOutcome | None:
        try:
            result = future.result()
        except BrokenProcessPool:
            self._discard(slot)
            return queue.worker_died(job, "the worker process ended abruptly (killed by a signal, or out of memory)")
        except Exception as exc:  # noqa: BLE001 - raised by the job itself (plugin, dataset, config hash): a retry would raise again
            return queue.raised(job, describe_error(exc))
        return queue.finished(job, result)

    def close(self) -> None:
        for slot in range(len(self.pools)):
            self._discard(slot)
