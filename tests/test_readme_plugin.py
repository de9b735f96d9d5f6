"""The plugin example in the README runs as printed: its imports are the public ``asebench.api`` surface."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def readme_plugin() -> str:
    """The README's ``# my_method.py`` code block."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(# my_method\.py\n.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "the README should hold exactly one '# my_method.py' example"
    return blocks[0]


def test_readme_plugin_example_runs(
    tiny_folder_dataset: Callable[..., Path], run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    plugin = tmp_path / "my_method.py"
    plugin.write_text(readme_plugin(), encoding="utf-8")
    root = tiny_folder_dataset()
    result = run_cli(
        "run",
        "--plugin",
        plugin,
        "--methods",
        "nearest-mean",
        "--datasets",
        f"folder:{root}",
        "--tasks",
        "multiclass",
        "--run-dir",
        tmp_path / "run",
    )
    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "run" / "summary.csv").read_text(encoding="utf-8")
    row = next(line for line in summary.splitlines() if ",nearest-mean," in line)
    assert ",ok," in row
