"""Atomic writes: sorted JSON, no temp files left, the old file survives a failed write."""

from __future__ import annotations

import json
import os
import stat

import pytest

from asebench.store import atomic as storage
from asebench.store.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_json_sorted_keys_and_trailing_newline(tmp_path):
    path = tmp_path / "out.json"
    atomic_write_json(path, {"b": 1, "a": {"z": [1, 2], "y": None}})
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text == json.dumps({"a": {"y": None, "z": [1, 2]}, "b": 1}, indent=2) + "\n"
    assert json.loads(text) == {"a": {"y": None, "z": [1, 2]}, "b": 1}


def test_equal_payloads_give_equal_bytes(tmp_path):
    atomic_write_json(tmp_path / "1.json", {"x": 1, "y": 2})
    atomic_write_json(tmp_path / "2.json", {"y": 2, "x": 1})
    assert (tmp_path / "1.json").read_bytes() == (tmp_path / "2.json").read_bytes()


def test_unicode_text_roundtrip(tmp_path):
    path = tmp_path / "t.md"
    atomic_write_text(path, "µm ± 0.5 – ok\n")
    assert path.read_bytes() == "µm ± 0.5 – ok\n".encode()


def test_creates_parent_directories(tmp_path):
    path = tmp_path / "a" / "b" / "c.json"
    atomic_write_json(path, [1])
    assert json.loads(path.read_text()) == [1]


def test_overwrite_and_no_temp_files_left(tmp_path):
    path = tmp_path / "data.bin"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_failure_during_replace_keeps_original_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "record.json"
    atomic_write_json(path, {"version": 1})
    original = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_json(path, {"version": 2})
    assert path.read_bytes() == original
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


def test_failure_during_fsync_keeps_original_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "summary.csv"
    atomic_write_text(path, "old\n")

    def failing_fsync(fd):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(storage.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        atomic_write_text(path, "new\n")
    assert path.read_text() == "old\n"
    assert leftovers(tmp_path) == []


def test_interrupt_also_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "x.json"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(path, {"a": 1})
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_payload_raises_and_writes_nothing(tmp_path, bad):
    path = tmp_path / "nan.json"
    atomic_write_json(path, {"ok": 1})
    with pytest.raises(ValueError):
        atomic_write_json(path, {"macro_f1": bad})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert leftovers(tmp_path) == []


def test_unserialisable_payload_raises_type_error(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"a": object()})
    assert list(tmp_path.iterdir()) == []


def test_written_files_respect_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "r.json", {"a": 1})
        with open(tmp_path / "plain.json", "w") as handle:
            handle.write("{}")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "r.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.json").stat().st_mode) == 0o644
