"""Where the harness keeps generated data and caches.

``ASEBENCH_CACHE_DIR`` overrides the default ``~/.cache/asebench`` (tests point
it at a temporary directory). Nothing here downloads anything.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Root of every on-disk cache (generated datasets, frozen features)."""
    configured = os.environ.get("ASEBENCH_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "asebench"


def cache_dir(*parts: str) -> Path:
    """A sub-directory of :func:`cache_root`, created on demand."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
