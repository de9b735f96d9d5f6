"""One writer per run directory: a second holder is refused or waits; a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asebench.store.run_lock import LOCK_FILE, RunDirectoryLocked, RunLock, read_holder


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped): no process has it now."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_second_holder_is_refused_with_pid_host_and_start_time(tmp_path: Path) -> None:
    with RunLock(tmp_path / "run") as first:
        assert read_holder(tmp_path / "run" / LOCK_FILE) == first.facts
        with pytest.raises(RunDirectoryLocked) as info:
            RunLock(tmp_path / "run").acquire()
        message = str(info.value)
        assert f"pid {os.getpid()} on host {socket.gethostname()}, started {first.facts['started_at']}" in message
        assert "--wait" in message
    assert not (tmp_path / "run" / LOCK_FILE).exists()  # released
    with RunLock(tmp_path / "run"):  # and free again
        pass


def test_lock_is_released_when_the_run_raises_or_is_interrupted(tmp_path: Path) -> None:
    for error in (RuntimeError("cell crashed"), KeyboardInterrupt()):
        with pytest.raises(type(error)), RunLock(tmp_path):
            raise error
        assert not (tmp_path / LOCK_FILE).exists()


def test_stale_lock_of_a_dead_process_on_this_host_is_taken_over_with_a_message(tmp_path: Path) -> None:
    pid = dead_pid()
    stale = {"pid": pid, "host": socket.gethostname(), "started_at": "2020-01-01T00:00:00+00:00"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(stale), encoding="utf-8")
    messages: list[str] = []
    with RunLock(tmp_path, message=messages.append) as lock:
        assert read_holder(tmp_path / LOCK_FILE) == lock.facts
    assert len(messages) == 1 and "stale" in messages[0] and f"pid {pid}" in messages[0]


def test_lock_of_another_host_is_never_taken_over(tmp_path: Path) -> None:
    other = {"pid": dead_pid(), "host": "another-host.example", "started_at": "2020-01-01T00:00:00+00:00"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(other), encoding="utf-8")
    with pytest.raises(RunDirectoryLocked, match=r"on host another-host\.example") as info:
        RunLock(tmp_path).acquire()
    assert f"delete {tmp_path / LOCK_FILE}" in str(info.value)


def test_wait_polls_until_the_holder_lets_go(tmp_path: Path) -> None:
    holder = RunLock(tmp_path)
    holder.acquire()
    messages: list[str] = []

    def on_message(text: str) -> None:  # the holder finishes while the second run waits
        messages.append(text)
        holder.release()

    with RunLock(tmp_path, wait=True, poll_s=0.01, message=on_message) as second:
        assert read_holder(tmp_path / LOCK_FILE) == second.facts
    assert len(messages) == 1 and messages[0].startswith("waiting for") and f"pid {os.getpid()}" in messages[0]


def test_second_asebench_run_on_a_held_directory_exits_2(
    tmp_path: Path, run_cli: Callable[..., Any], tiny_folder_dataset: Callable[..., Path]
) -> None:
    run_dir = tmp_path / "run"
    with RunLock(run_dir) as lock:  # this test process plays the first run
        result = run_cli("run", "-m", "majority", "-d", f"folder:{tiny_folder_dataset()}", "--run-dir", run_dir)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"pid {os.getpid()} on host {socket.gethostname()}, started {lock.facts['started_at']}" in result.stderr
    assert not (run_dir / "cells").exists() or not list((run_dir / "cells").iterdir())  # nothing computed
