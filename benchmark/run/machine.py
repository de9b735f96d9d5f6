"""The CPU and numeric libraries under a result: what can move a number between two machines of one kind.

Two machines of the same kind can still differ in vector extensions (AVX-512
or not picks another GEMM kernel), BLAS/OpenMP libraries and thread counts
(another summation order), which is enough to move a fine-tune's scores.
Facts that cannot change during a process (CPU model and flags) are read
once; thread counts and thread variables are read on every call. Nothing
here raises: what cannot be read is ``None``.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")

# the flags that decide which kernels BLAS, oneDNN and torch pick (x86 /proc/cpuinfo names, then ARM's)
SIMD_FLAGS = frozenset(
    {
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "avx_vnni",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "amx_tile",
        "amx_int8",
        "amx_bf16",
        "neon",
        "asimd",
        "asimddp",
        "asimdhp",
        "sve",
        "sve2",
    }
)

# variables that set thread counts, kernel choice or reproducibility of the numeric libraries
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_CBWR",
    "CUBLAS_WORKSPACE_CONFIG",
)


def read_cpuinfo() -> dict[str, str]:
    """The first value of every ``key : value`` line of /proc/cpuinfo; empty where there is none."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


@lru_cache(maxsize=1)
def cpu_model() -> dict[str, Any]:
    """Model, vendor and SIMD flags (sorted, allow-listed): read once, they cannot change while running."""
    fields = read_cpuinfo()
    flags = fields.get("flags") or fields.get("Features")  # x86 / ARM
    return {
        "model": fields.get("model name") or platform.processor() or None,
        "vendor": fields.get("vendor_id") or fields.get("CPU implementer") or None,
        "flags": sorted(set(flags.split()) & SIMD_FLAGS) if flags is not None else None,
    }


def cpu_info() -> dict[str, Any]:
    """The cached CPU facts plus the cores this process may use now (the affinity mask; None off Linux)."""
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    return {**cpu_model(), "usable_cores": usable}


def threadpools() -> list[dict[str, Any]] | None:
    """The BLAS/OpenMP libraries loaded now and their thread counts (threadpoolctl); None without it.

    Library file names only: full paths would put home directories into records.
    """
    try:
        from threadpoolctl import threadpool_info  # a scikit-learn dependency
    except ImportError:
        return None
    try:
        found = threadpool_info()
    except Exception:  # noqa: BLE001 - a provenance detail must never fail a cell
        return None
    pools = []
    for pool in found:
        entry = {key: pool.get(key) for key in ("user_api", "internal_api", "version", "num_threads")}
        entry.update({key: pool[key] for key in ("architecture", "threading_layer") if key in pool})
        entry["filename"] = os.path.basename(str(pool.get("filepath") or "")) or None
        pools.append(entry)
    return sorted(pools, key=lambda p: (str(p["user_api"]), str(p["internal_api"]), str(p["filename"])))


def thread_variables() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in THREAD_VARIABLES}
