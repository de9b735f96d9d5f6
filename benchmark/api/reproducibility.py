"""Device choice and seeding, recorded with every cell; methods derive their own seeds from here too.

Heavy libraries are imported lazily: a method that never touches torch (the
``majority`` baseline) runs without importing it.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any

import numpy as np


def torch_available() -> bool:
    """Whether torch is installed, found without importing it (an import takes seconds)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def select_device(preference: str = "auto") -> str:
    """``auto`` picks CUDA, then Apple MPS, then CPU; an explicit choice is checked."""
    if preference == "cpu" or not torch_available():
        if preference not in ("auto", "cpu"):
            raise RuntimeError(f"device {preference!r} requested but torch is not installed")
        return "cpu"
    import torch

    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {preference!r} requested but CUDA is not available")
    if preference == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device 'mps' requested but MPS is not available")
    return preference


def derived_seeds(seed: int) -> dict[str, int]:
    """Separate, recorded seeds for each random source, all derived from the run seed."""
    sequence = np.random.SeedSequence(seed)
    python_seed, numpy_seed, torch_seed, episode_seed = (int(s.generate_state(1)[0]) for s in sequence.spawn(4))
    return {"run": seed, "python": python_seed, "numpy": numpy_seed, "torch": torch_seed, "episodes": episode_seed}


def seed_everything(seed: int, deterministic: bool = False) -> dict[str, Any]:
    """Seed Python, NumPy and (if loaded or available) torch; return what was set."""
    seeds = derived_seeds(seed)
    random.seed(seeds["python"])
    np.random.seed(seeds["numpy"] % (2**32))
    state: dict[str, Any] = {"seeds": seeds, "deterministic": deterministic}
    if "torch" in sys.modules:  # never import torch just to seed it: majority runs without it
        state.update(seed_torch(seed, deterministic))
    return state


def seed_torch(seed: int, deterministic: bool = False) -> dict[str, Any]:
    """Seed torch from the run seed; torch-based methods call this at the start of ``fit``."""
    import torch

    torch.manual_seed(derived_seeds(seed)["torch"])
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return {"torch_threads": torch.get_num_threads()}
