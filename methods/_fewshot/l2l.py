"""Importing learn2learn quietly.

``import learn2learn`` imports gym (for its RL helpers, which we never use),
and gym 0.26 prints an "unmaintained" banner to stderr on import; inside a
benchmark run that banner reads like an error. It is swallowed here, and any
real import error is re-raised with whatever else was printed.
"""

from __future__ import annotations

import contextlib
import io
import sys
from types import ModuleType


def import_learn2learn() -> ModuleType:
    """``learn2learn``, imported once with gym's import-time banner silenced."""
    if "learn2learn" not in sys.modules:
        captured = io.StringIO()
        try:
            with contextlib.redirect_stderr(captured):
                import learn2learn  # noqa: F401
        except Exception:
            sys.stderr.write(captured.getvalue())
            raise
    return sys.modules["learn2learn"]
