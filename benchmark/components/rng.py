"""One-time work that a cache removes must not move the random state of the cell that happens to do it.

The runner seeds every cell, and a method's own random draws (weight init,
episode sampling, dropout) follow from that seed. Work that a cache makes
optional -- building a backbone to extract features, encoding texts, OCR,
generated descriptions -- would otherwise consume random numbers (timm
initialises a model before its pretrained weights are loaded) only when the
cache is cold, so the same cell gave different numbers on a fresh machine and
on a warm one (measured: ``anil`` binary macro-F1 0.734 warm against 0.758 cold).
:func:`rng_preserved` restores Python's, NumPy's global and torch's CPU and
CUDA generators after such work, so a cell's numbers do not depend on what
the cache already held.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


@contextmanager
def rng_preserved() -> Iterator[None]:
    """Run the body, then put every global random generator back where it was."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    torch: Any = sys.modules.get("torch")  # never import torch here: a cache of OCR readings does not need it
    torch_state = torch.random.get_rng_state() if torch is not None else None
    cuda_states = (
        torch.cuda.get_rng_state_all()
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized()
        else None
    )
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if torch_state is not None:
            torch.random.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
