"""Library facts: computed once in a subprocess, then read from the cache root; the planner never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asebench.components import library_facts as facts_module
from asebench.components.library_facts import library_facts

PRODUCER = """
import os

def squares(keys):
    with open(os.environ["FACTS_LOG"], "a") as log:
        log.write(" ".join(keys) + "\\n")
    return {key: int(key) ** 2 for key in keys}
"""


@pytest.fixture()
def producer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module ``fake_library_facts`` importable here and in subprocesses; returns its call log."""
    (tmp_path / "fake_library_facts.py").write_text(PRODUCER, encoding="utf-8")
    log = tmp_path / "calls.log"
    monkeypatch.setenv("FACTS_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ASEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delitem(sys.modules, "fake_library_facts", raising=False)
    return log


def ask(keys: list[str], also: tuple[str, ...] = ()) -> dict[str, Any]:
    # "pytest" stands in for the library: installed (it has a version) and, by name "fake_lib", not loaded
    return library_facts("pytest", "fake_lib", "fake_library_facts:squares", keys, also)


def test_missing_keys_come_from_one_subprocess_then_from_the_cache(
    producer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ask(["3"], also=("4", "5")) == {"3": 9}
    assert producer.read_text().splitlines() == ["3 4 5"]  # one call, the likely keys included
    assert "fake_library_facts" not in sys.modules  # it ran in the subprocess
    stored = list((Path(str(facts_module.cache_root())) / "library-facts").glob("pytest-*-squares.json"))
    assert len(stored) == 1 and json.loads(stored[0].read_text()) == {"3": 9, "4": 16, "5": 25}

    def no_subprocess(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("known keys must not start a subprocess")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert ask(["5", "4"]) == {"5": 25, "4": 16}


def test_a_loaded_library_is_asked_directly(producer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fake_lib", sys)  # any module: "the library is loaded"
    assert library_facts("pytest", "fake_lib", "fake_library_facts:squares", ["6"]) == {"6": 36}
    assert "fake_library_facts" in sys.modules
    assert not (Path(str(facts_module.cache_root())) / "library-facts").exists()


def test_a_failing_subprocess_falls_back_to_this_process(producer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(Path(sys.executable).parent / "no-such-python"))
    assert ask(["2"]) == {"2": 4}
    assert "fake_library_facts" in sys.modules  # computed here: an import error would have surfaced here too


def test_planning_every_method_imports_no_torch() -> None:
    """The planner only reads timm's and open_clip's configs: it must not hold torch beside the workers."""
    script = (
        "import sys\n"
        "from asebench.api.plugins import load_plugins\n"
        "from asebench.run.config import RunConfig\n"
        "from asebench.run.grid import plan_methods\n"
        "load_plugins([])\n"
        "plan_methods(RunConfig(methods=['all']))\n"
        "heavy = sorted(m for m in ('torch', 'timm', 'open_clip', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == ""
