"""One writer per run directory: a lock file that a second ``asebench run`` on the same directory respects.

Without it two runs on one directory both compute every cell (nothing is
corrupted, records are written atomically, but the work is done twice and the
last writer wins). The lock is a file, ``<run_dir>/run.lock``, created with
``O_CREAT | O_EXCL`` (atomic: one process wins) and holding the holder's pid,
host and start time, so the refusal can say who holds it. A lock left by a
process that died on this host (its pid is gone) is stale and taken over; one
from another host cannot be checked and is reported with how to remove it.
Only the top-level run takes it: executor workers write records under it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from asebench.api.errors import ResultsError

LOCK_FILE = "run.lock"


class RunDirectoryLocked(ResultsError):
    """Another live process holds the run directory's lock."""


class RunLock:
    """Context manager: hold ``<run_dir>/run.lock`` for the run; released on exit, exceptions and Ctrl-C included.

    ``wait``: poll every ``poll_s`` seconds until the holder lets go instead of refusing.
    ``message`` receives the one-line notes (waiting, stale lock taken over).
    """

    def __init__(
        self, run_dir: Path, wait: bool = False, poll_s: float = 2.0, message: Callable[[str], None] | None = None
    ) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.wait = wait
        self.poll_s = poll_s
        self.message = message or (lambda text: None)
        self.facts: dict[str, Any] = {}

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Create the lock file, take over a stale one, then wait or refuse while a live process holds it."""
        waiting = False
        while True:
            if self._create():
                return
            holder = read_holder(self.path)
            if holder is None:  # released between our try and the read: try again at once
                continue
            if is_stale(holder):
                self.message(f"taking over the stale lock of {self.path.parent} ({describe(holder)}: no such process)")
                with suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            if not self.wait:
                raise RunDirectoryLocked(refusal(self.path, holder))
            if not waiting:
                self.message(f"waiting for {self.path.parent}: another run holds it ({describe(holder)})")
                waiting = True
            time.sleep(self.poll_s)

    def _create(self) -> bool:
        self.facts = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise ResultsError(
                f"results directory {self.path.parent} is not writable: {exc.strerror or exc}. "
                "Choose another with --run-dir."
            ) from exc
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.facts, handle)
        return True

    def release(self) -> None:
        """Remove the lock file if it is still this holder's (a takeover by another process is left alone)."""
        if read_holder(self.path) == self.facts:
            with suppress(FileNotFoundError):
                self.path.unlink()


def read_holder(path: Path) -> dict[str, Any] | None:
    """The facts in a lock file; None when there is no lock; ``{}`` while its holder is still writing them."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        facts = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return facts if isinstance(facts, dict) else {}


def is_stale(holder: dict[str, Any]) -> bool:
    """True when the holder ran on this host and its process is gone."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def describe(holder: dict[str, Any]) -> str:
    """``pid 123 on host h, started 2025-01-01T10:00:00+00:00``."""
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started {holder.get('started_at', '?')}"


def refusal(path: Path, holder: dict[str, Any]) -> str:
    """Why a second run is refused, and the ways out."""
    return (
        f"run directory {path.parent} is in use by another asebench run ({describe(holder)}). "
        f"Wait for it with --wait, or choose another --run-dir; if that process is gone, delete {path}."
    )
