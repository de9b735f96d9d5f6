"""What machine and software produced a result (stored with every run and cell).

Cheap enough to collect for every cell: what cannot change during a process
(package versions, git commit, CPU model, torch's build) is read once; thread
counts and torch's determinism settings are read on every call.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from asebench.run.machine import cpu_info, thread_variables, threadpools

# 2: cpu, threadpools, env_vars and torch's kernel/determinism settings. A record that lacks a
# key its format predates is not a difference (``asebench compare`` says so once, per run)
SCHEMA = 2
ADDED_IN_SCHEMA: dict[str, int] = {
    "schema": 2,
    "cpu": 2,
    "threadpools": 2,
    "env_vars": 2,
    **dict.fromkeys(
        (
            "torch.interop_threads",
            "torch.cpu_capability",
            "torch.deterministic_algorithms",
            "torch.float32_matmul_precision",
            "torch.cudnn_deterministic",
            "torch.cudnn_benchmark",
            "torch.mkldnn_enabled",
            "torch.build",
        ),
        2,
    ),
}

TRACKED_PACKAGES = (
    "asebench",
    "numpy",
    "scikit-learn",
    "pillow",
    "pydantic",
    "torch",
    "torchvision",
    "timm",
    "open_clip_torch",
    "transformers",
    "learn2learn",
)


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """Commit of the source tree (editable installs), with ``-dirty`` for local changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def _read(getter: Callable[[], Any]) -> Any:
    """A torch setting, or None where this torch version lacks it."""
    try:
        return getter()
    except Exception:  # noqa: BLE001 - a provenance detail must never fail a cell
        return None


@lru_cache(maxsize=1)
def torch_build() -> dict[str, str | None]:
    """BLAS/LAPACK and the MKL, oneDNN and OpenMP versions torch was built with (``torch.__config__.show()``)."""
    text = str(_read(lambda: sys.modules["torch"].__config__.show()) or "")

    def find(pattern: str) -> str | None:
        match = re.search(pattern, text)
        return match.group(1) if match else None

    return {
        "blas": find(r"BLAS_INFO=([^,\s]+)"),
        "lapack": find(r"LAPACK_INFO=([^,\s]+)"),
        "mkl": find(r"Math Kernel Library Version ([\w.]+)"),
        "onednn": find(r"(?:MKL-DNN|oneDNN) v([\w.]+)"),
        "openmp": find(r"OpenMP (\d+)"),
    }


def torch_info(device: str) -> dict[str, Any]:
    """Versions, kernel and determinism settings, device facts; only when torch is already imported (never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    backends = torch.backends
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "interop_threads": _read(torch.get_num_interop_threads),
        "cpu_capability": _read(backends.cpu.get_cpu_capability),
        "deterministic_algorithms": _read(torch.are_deterministic_algorithms_enabled),
        "float32_matmul_precision": _read(torch.get_float32_matmul_precision),
        "cudnn_deterministic": _read(lambda: bool(backends.cudnn.deterministic)),
        "cudnn_benchmark": _read(lambda: bool(backends.cudnn.benchmark)),
        "mkldnn_enabled": _read(lambda: bool(backends.mkldnn.enabled and backends.mkldnn.is_available())),
        "build": torch_build(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        info["gpu"] = torch.cuda.get_device_name(index)
        info["cudnn"] = torch.backends.cudnn.version()
    return info


@lru_cache(maxsize=1)
def installed_distributions() -> tuple[str, ...]:
    """``name==version`` of every installed distribution, sorted: any install or upgrade changes it."""
    found = {f"{dist.metadata['Name']}=={dist.version}" for dist in importlib.metadata.distributions()}
    return tuple(sorted(found, key=str.lower))


HARNESS_PACKAGES = ("asebench", "asebench.methods", "asebench.datasets")


@lru_cache(maxsize=1)
def harness_code_digest() -> str:
    """sha256 over every file of asebench's packages (core, built-in methods, adapters), caches left out.

    A cell's config hash covers its method's and adapter's own code; this
    covers the rest (splits, episodes, runner, scoring), which a result also
    depends on, in a git checkout with local edits as much as in a wheel.
    """
    digest = hashlib.sha256()
    for package in HARNESS_PACKAGES:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            root = Path(location)
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    digest.update(f"{package}:{path.relative_to(root).as_posix()}\n".encode())
                    digest.update(path.read_bytes())
    return digest.hexdigest()


def cell_cache_context(device: str) -> dict[str, Any]:
    """The facts of this machine and install that a cell's result may depend on but its config hash omits.

    Part of the key of the cell cache (:mod:`asebench.store.cell_cache`):
    deliberately broad, since a needless miss costs a recomputation and a
    wrong hit a wrong number.
    """
    return {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_info(),
        "env_vars": thread_variables(),
        "device": device,
        "distributions": list(installed_distributions()),
        "harness_code": harness_code_digest(),
    }


def collect_environment(device: str = "cpu") -> dict[str, Any]:
    """Everything stored as a record's ``environment`` and in ``environment.json``."""
    return {
        "schema": SCHEMA,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_info(),
        "packages": package_versions(),
        "git": git_revision(),
        "device": device,
        "torch": torch_info(device),
        "threadpools": threadpools(),
        "env_vars": thread_variables(),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE"),
    }
