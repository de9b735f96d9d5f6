"""What a cell used besides time: parameters, FLOPs per image, peak memory, threads.

Everything here reads torch only when the process already imported it (a
method that never touches torch is not charged torch's import), and every
reading that is not possible says why instead of guessing a number.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MEBIBYTE = 1024 * 1024


def _torch() -> Any:
    """The torch module when something in this process imported it, else None."""
    return sys.modules.get("torch")


def max_rss_bytes() -> int:
    """The process's resident-set high-water mark (``getrusage``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass(frozen=True)
class MemoryStart:
    """The memory readings at the start of a cell, to report what the cell added."""

    max_rss: int
    device: str


def memory_start(device: str) -> MemoryStart:
    """Read the RSS high-water mark and reset CUDA's peak counter (on a CUDA device) before the method runs."""
    torch = _torch()
    if device.startswith("cuda") and torch is not None and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)
    return MemoryStart(max_rss_bytes(), device)


def memory_used(start: MemoryStart) -> dict[str, Any]:
    """Peak memory of the cell: process RSS (high-water mark, and how far this cell raised it) and CUDA's peak."""
    peak = max_rss_bytes()
    out: dict[str, Any] = {
        "peak_rss_mb": round(peak / MEBIBYTE, 1),
        "rss_increase_mb": round(max(0, peak - start.max_rss) / MEBIBYTE, 1),
        "rss_note": "process high-water mark: includes the cells that ran before in the same process",
        "cuda_max_allocated_mb": None,
    }
    torch = _torch()
    if start.device.startswith("cuda") and torch is not None and torch.cuda.is_available():
        out["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated(start.device) / MEBIBYTE, 1)
    return out


def torch_threads() -> int | None:
    """The intra-op thread count of torch (None when torch is not loaded in this process)."""
    torch = _torch()
    return None if torch is None else int(torch.get_num_threads())


def parameter_counts(modules: Sequence[Any]) -> dict[str, Any]:
    """Total and trainable (``requires_grad``) parameters of the modules a method runs at predict time.

    A parameter shared by several modules counts once. ``None`` values mean the
    method does not expose its modules (:meth:`asebench.api.method.Method.modules`).
    """
    if not modules:
        return {"total": None, "trainable": None, "note": "not reported: the method exposes no torch modules"}
    seen: dict[int, Any] = {}
    for module in modules:
        for parameter in module.parameters():
            seen.setdefault(id(parameter), parameter)
    return {
        "total": int(sum(p.numel() for p in seen.values())),
        "trainable": int(sum(p.numel() for p in seen.values() if p.requires_grad)),
        "note": "trainable: requires_grad at predict time",
    }


def count_flops(call: Callable[[], Any]) -> tuple[int | None, str]:
    """FLOPs of the torch operations ``call`` runs (torch's ``FlopCounterMode``), and a note on what it means."""
    torch = _torch()
    if torch is None:
        return None, "not counted: the method does not use torch"
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        call()
    flops = int(counter.get_total_flops())
    if flops == 0:
        return None, "not counted: no torch operation with a FLOP formula ran (numpy/scikit-learn work is not counted)"
    return flops, "torch FlopCounterMode (multiply-add = 2 FLOPs); numpy/scikit-learn work is not counted"
