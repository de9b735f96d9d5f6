"""Atomic file writes: a reader (or a killed run) never sees a half-written file.

Plus advisory file locks, so parallel workers sharing a cache compute a
cached item once instead of each computing it: :func:`file_lock` waits,
:func:`try_file_lock` only takes a free lock (a claim on one item).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp makes 0600; shared run dirs need the umask
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, payload: Any) -> None:
    """JSON with sorted keys and a trailing newline, so equal payloads give equal bytes."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) against other processes.

    Advisory (``flock``): it orders cooperating writers of a shared cache and
    never protects data by itself; writes stay atomic either way. Where
    ``fcntl`` does not exist (Windows) it does nothing, which costs only
    duplicate work.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def try_file_lock(path: Path, *, wait: bool = False) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` if it is free; yields False (holding nothing) if another holds it.

    ``wait=True`` waits for it instead, and always yields True. The OS drops
    a ``flock`` when its holder exits or dies, so a lock is never stale. The
    file is opened read-only (created if missing), so a lock file another user
    made is still usable. Where locking is impossible (no ``fcntl``, a file
    system without ``flock``, an unopenable file) it yields True: callers
    then only lose the saving of duplicate work, never correctness.
    """
    try:
        import fcntl
    except ImportError:
        yield True
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        yield True
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:  # held by another, or no flock on this file system (then work unlocked)
        held_elsewhere = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    else:
        try:
            yield True
        finally:
            os.close(fd)  # closing the descriptor releases the lock
        return
    os.close(fd)
    yield not held_elsewhere
