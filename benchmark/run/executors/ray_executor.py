"""Cells as Ray tasks, on an existing cluster (``ray_address``) or a local one started here.

Each cell is one task with its own resource request (``cell_cpus``, and one
GPU per cell when the run may use CUDA and the cluster has GPUs, or
``cell_gpus``). Ray's own task retries are off (``max_retries=0``): a task
whose worker or node died comes back as a Ray system error and this executor
resubmits it, so the attempts are counted and bounded by ``config.max_retries``.
Ray is imported only when this executor is chosen.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from asebench.api.errors import ConfigError
from asebench.run.config import RunConfig
from asebench.run.executors.base import CellOutcome, Executor, JobStarted, RetryQueue
from asebench.run.jobs import CellBench, CellJob, describe_error, run_job


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("executor 'ray' needs Ray: pip install 'asebench[ray]'") from exc
    return ray


def cell_resources(config: RunConfig, cluster: Mapping[str, float]) -> tuple[float, float, str]:
    """CPUs and GPUs each task asks for, and the device the worker should use."""
    gpus_in_cluster = cluster.get("GPU", 0.0)
    if config.device.startswith("cuda") and not gpus_in_cluster:
        raise ConfigError(f"device {config.device!r} requested but the Ray cluster has no GPUs")
    may_use_cuda = config.device == "auto" or config.device.startswith("cuda")
    if config.cell_gpus is not None and config.cell_gpus > 0 and not may_use_cuda:
        raise ConfigError(f"cell_gpus={config.cell_gpus:g} asks for GPUs but device is {config.device!r}")
    default_gpus = 1.0 if may_use_cuda and gpus_in_cluster else 0.0
    gpus = config.cell_gpus if config.cell_gpus is not None else default_gpus
    if gpus > 0:
        device = "cuda"  # Ray sets CUDA_VISIBLE_DEVICES to the task's GPU(s)
    elif config.device == "auto" and gpus_in_cluster:
        device = "cpu"  # no GPU reserved for the cell, so it must not grab one
    else:
        device = config.device
    return config.cell_cpus or 1.0, gpus, device


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, config: RunConfig, bench: CellBench) -> None:
        super().__init__(config, bench)
        self.ray = import_ray()
        self.started_cluster = False
        if not self.ray.is_initialized():
            local = {"num_cpus": config.workers} if config.ray_address is None else {}
            self.ray.init(address=config.ray_address, include_dashboard=False, logging_level="WARNING", **local)
            self.started_cluster = True
        try:
            self.cpus, self.gpus, self.device = cell_resources(config, self.ray.cluster_resources())
            if self._capacity() < 1:
                raise ConfigError(
                    f"the Ray cluster cannot hold a cell asking for {self.cpus:g} CPU(s) and {self.gpus:g} GPU(s) "
                    f"(cluster: {self.ray.cluster_resources()})"
                )
        except BaseException:
            self.close()
            raise
        self.task = self.ray.remote(run_job).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)

    @classmethod
    def parent_device(cls, config: RunConfig) -> str:
        """Workers choose the device on their own node; the submitting machine may have no GPU."""
        return config.device

    def _capacity(self) -> int:
        """How many cells the cluster can run at once now (grows with an autoscaling cluster)."""
        cluster = self.ray.cluster_resources()
        fits = [int(cluster.get("CPU", 0.0) // self.cpus)]
        if self.gpus > 0:
            fits.append(int(cluster.get("GPU", 0.0) // self.gpus))
        return min(fits)

    def run(self, jobs: Sequence[CellJob], started: JobStarted) -> Iterator[CellOutcome]:
        queue = RetryQueue(jobs, self.config.max_retries)
        running: dict[Any, CellJob] = {}
        try:
            while queue or running:
                while queue and len(running) < max(1, self._capacity()):  # started == actually starting, roughly
                    job = queue.pop()
                    running[self.task.remote(replace(job, device=self.device))] = job
                    started(job)
                ready, _ = self.ray.wait(list(running), num_returns=1)
                for ref in ready:
                    outcome = self._collect(ref, running.pop(ref), queue)
                    if outcome is not None:
                        yield outcome
        finally:
            for ref in running:
                self.ray.cancel(ref, force=True)

    def _collect(self, ref: Any, job: CellJob, queue: RetryQueue) -> CellOutcome | None:
        exceptions = self.ray.exceptions
        try:
            result = self.ray.get(ref)
        except exceptions.RayTaskError as exc:  # raised by the job itself: a retry would raise again
            error = describe_error(getattr(exc, "cause", None) or exc)
            error["traceback"] = str(exc)[-2000:]
            return queue.raised(job, error)
        except exceptions.RayError as exc:  # worker crashed, node died, out of memory, object lost
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            return queue.worker_died(job, reason)
        return queue.finished(job, result)

    def close(self) -> None:
        if self.started_cluster and self.ray.is_initialized():
            self.ray.shutdown()
        self.started_cluster = False
