"""A plugin the user names that cannot be used stops the run with exit 2, naming the file, the line and the cause.

Each case replays a mistake a new user made (issue 24): before, each gave the same quiet warning and exit 0,
and the colliding one silently ran the built-in ``majority`` instead of the user's method.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

CLASH = """
from asebench.api import Method, register_method


@register_method("majority")
class MyMajority(Method):
    def fit(self, train, val):
        pass

    def predict(self, test):
        raise NotImplementedError
"""

# file name -> (text or None for a missing file, the cause the error must name, the line it must point at)
MISTAKES: dict[str, tuple[str | None, str, int | None]] = {
    "syntax_error.py": ("import numpy\n\n\ndef fit(self:\n    pass\n", "SyntaxError: ", 4),
    "raises_on_import.py": ("import os\nraise RuntimeError('needs MY_TOKEN')\n", "RuntimeError: needs MY_TOKEN", 2),
    "missing.py": (None, "FileNotFoundError: plugin file not found", None),
    "clash.py": (CLASH, "PluginError: method name 'majority' is registered twice", 5),
}


@pytest.mark.parametrize("file_name", list(MISTAKES))
def test_plugin_mistake_is_an_error_naming_file_line_and_cause(
    file_name: str, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    text, cause, line = MISTAKES[file_name]
    plugin = tmp_path / file_name
    if text is not None:
        plugin.write_text(text, encoding="utf-8")
    run_dir = tmp_path / "run"
    result = run_cli("run", "-m", "my-rf", "--plugin", plugin, "--run-dir", run_dir)
    assert result.returncode == 2, result.stdout + result.stderr
    error = result.stderr.strip()
    assert error.startswith(f"error: --plugin {plugin} failed to load: {cause}"), error
    where = f"{plugin}:{line}" if line is not None else str(plugin)
    assert f"(at {where})" in error
    assert "Did you mean" not in error and "Traceback" not in error
    assert not (run_dir / "cells").exists()  # nothing ran: not the built-in majority either


def test_plugin_from_the_config_file_fails_the_same_way(tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    plugin = tmp_path / "raises_on_import.py"
    plugin.write_text("raise ImportError('needs not_installed_lib')\n", encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"methods": ["majority"], "plugins": [str(plugin)]}), encoding="utf-8")
    result = run_cli("run", "-c", config, "--run-dir", tmp_path / "run")
    assert result.returncode == 2
    assert f"--plugin {plugin} failed to load: ImportError: needs not_installed_lib (at {plugin}:1)" in result.stderr
