"""What machine and software produced a result (stored with every run and cell)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

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


def torch_info(device: str) -> dict[str, Any]:
    """Versions and device facts, only when torch is already imported (never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        info["gpu"] = torch.cuda.get_device_name(index)
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def collect_environment(device: str = "cpu") -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "git": git_revision(),
        "device": device,
        "torch": torch_info(device),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE"),
    }
