"""The extra timing passes: ``predict`` on a small fixed subset of the test split, after the cell's real predict.

Warm passes run right after the cell's own predict, so every cache the method
keeps (features on disk, OCR, descriptions, encoded prompts, a trained adapter)
is warm: they measure the per-image cost of a method in service. One pass more
points the method's cache folder at an empty directory ("cold cache"), so a
method that only reads cached features cannot look free; the one-time work a
cache removes is in ``fit_s`` and in the cold pass, not in the warm numbers.
The passes are small (at most :data:`MAX_BATCH` images, repeats cut short by a
time budget) because they run for every cell of ``make run``. A pass that
fails is noted in the block and never fails the cell.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from asebench.api.method import Method, UnlabeledSplit
from asebench.run.efficiency.resources import (
    MemoryStart,
    count_flops,
    memory_used,
    parameter_counts,
    torch_threads,
)

EFFICIENCY_VERSION = 1
DEFAULT_BATCH = 8  # for a method without a ``batch_size`` option
MAX_BATCH = 16  # the batch pass never predicts more images than this
BATCH1_REPEATS = 5
BATCH_REPEATS = 3
PASS_BUDGET_S = 0.75  # repeats of one pass stop once they took this long (at least one is timed)
CACHE_COUNTERS = ("features_computed", "image_features_computed")  # provenance keys that count cache misses


def _quiet(description: str, completed: int, total: int) -> None:
    return None


def batch_size_of(method: Method) -> tuple[int, str]:
    """The batch the method predicts with: its ``batch_size`` option, else :data:`DEFAULT_BATCH`."""
    value = getattr(method.options, "batch_size", None)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, "option batch_size"
    return DEFAULT_BATCH, "default (the method has no batch_size option)"


def _timed(call: Callable[[], Any]) -> float:
    tick = time.perf_counter()
    call()
    return time.perf_counter() - tick


def latency(method: Method, subset: UnlabeledSplit, repeats: int) -> dict[str, Any]:
    """Per-image milliseconds of ``predict(subset)``: one untimed warm-up, then up to ``repeats`` timed calls."""
    method.predict(subset)
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < PASS_BUDGET_S):
        times.append(_timed(lambda: method.predict(subset)))
    per_image = [t * 1000.0 / len(subset) for t in times]
    return {
        "batch": len(subset),
        "median_ms": round(statistics.median(per_image), 4),
        "p90_ms": round(float(np.percentile(per_image, 90)), 4),
        "repeats": len(times),
    }


def cache_misses(method: Method) -> int | None:
    """Samples the method computed instead of reading from its caches so far, as its provenance counts them."""
    try:
        provenance = method.provenance()
    except Exception:  # noqa: BLE001 - provenance is optional reading here, the cell recorded it already
        return None
    counts = [v for k, v in provenance.items() if k in CACHE_COUNTERS and isinstance(v, int)]
    return sum(counts) if counts else None


def with_empty_cache(method: Method, call: Callable[[], Any]) -> Any:
    """Run ``call`` with the method's cache folder pointed at a fresh empty directory (removed afterwards)."""
    original = method.context
    with tempfile.TemporaryDirectory(prefix="asebench-cold-") as folder:
        method.context = replace(original, cache_dir=Path(folder))
        try:
            return call()
        finally:
            method.context = original


def _attempt(notes: list[str], what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - an extra pass may fail (memory, a subset too small): noted, never fatal
        notes.append(f"{what} failed: {type(exc).__name__}: {exc}")
        return None


def measure(method: Method, test: UnlabeledSplit, timings: dict[str, float], memory: MemoryStart) -> dict[str, Any]:
    """The record's ``efficiency`` block for a cell whose ``fit`` and ``predict`` just ran (see the module doc)."""
    started = time.perf_counter()
    notes: list[str] = []
    batch, batch_source = batch_size_of(method)
    batch = min(batch, MAX_BATCH, len(test))
    block: dict[str, Any] = {
        "version": EFFICIENCY_VERSION,
        "device": method.context.device,
        "torch_threads": None,
        "warm_cache": True,
        "batch_source": batch_source,
        "training_s": timings.get("fit_s"),
        "cell_predict_ms_per_image": (
            round(timings["predict_s"] * 1000.0 / len(test), 4) if len(test) and "predict_s" in timings else None
        ),
        "latency": {},
        "cold_cache": None,
        "cache_misses_in_cell": cache_misses(method),
    }
    original = method.context
    method.context = replace(original, progress=_quiet)
    try:
        if len(test):
            one = replace(test, samples=test.samples[:1])
            subset = replace(test, samples=test.samples[:batch])
            block["latency"]["batch_1"] = _attempt(notes, "batch-1 pass", lambda: latency(method, one, BATCH1_REPEATS))
            block["latency"]["batch"] = _attempt(notes, "batch pass", lambda: latency(method, subset, BATCH_REPEATS))
            block["cold_cache"] = _attempt(notes, "cold-cache pass", lambda: _cold(method, subset))
            flops = _attempt(
                notes, "FLOP count", lambda: with_empty_cache(method, lambda: count_flops(lambda: method.predict(one)))
            )
            block["flops_per_image"], block["flops_note"] = flops if flops else (None, "not counted (pass failed)")
        else:
            notes.append("the test split is empty: nothing to time")
            block["flops_per_image"], block["flops_note"] = None, "not counted: empty test split"
        modules = _attempt(notes, "Method.modules()", method.modules)
        block["parameters"] = parameter_counts(list(modules or []))
    finally:
        method.context = original
    block["torch_threads"] = torch_threads()
    block["memory"] = memory_used(memory)
    block["passes_s"] = round(time.perf_counter() - started, 4)
    block["notes"] = notes
    return block


def _cold(method: Method, subset: UnlabeledSplit) -> dict[str, Any]:
    """One timed ``predict(subset)`` with an empty cache folder, and how many samples missed the caches."""
    before = cache_misses(method)
    seconds = with_empty_cache(method, lambda: _timed(lambda: method.predict(subset)))
    after = cache_misses(method)
    return {
        "batch": len(subset),
        "ms_per_image": round(seconds * 1000.0 / len(subset), 4),
        "cache_misses": None if before is None or after is None else after - before,
    }
