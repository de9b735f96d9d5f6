"""Shared rich consoles (stdout for results, stderr for errors and progress).

When output goes to a file or a pipe (CI logs, ``make run | tee``), rich would
assume 80 columns and wrap the tables; use a wide fixed width there instead.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPED_WIDTH = 160


def _width(stream: object) -> int | None:
    interactive = getattr(stream, "isatty", lambda: False)()
    return None if interactive or "COLUMNS" in os.environ else PIPED_WIDTH


console = Console(width=_width(sys.stdout))
error_console = Console(stderr=True, width=_width(sys.stderr))
