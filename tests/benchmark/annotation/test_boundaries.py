"""The annotation stage is generic and the ASE domain depends on it, never the reverse.

``asebench.annotation`` imports no domain, method or dataset; ``asebench.domains``
imports no method or dataset (the generator and the paper's model both use
the domain, so it must sit below both).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[3] / "benchmark"


def imported_modules(folder: Path) -> dict[str, set[str]]:
    """Every absolute module each file under ``folder`` imports (also inside functions)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(CORE))] = names
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("annotation", ("asebench.domains", "asebench.methods", "asebench.datasets")),
        ("domains", ("asebench.methods", "asebench.datasets")),
    ],
)
def test_imports_point_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    offending = {
        path: sorted(name for name in names if name.startswith(forbidden))
        for path, names in imported_modules(CORE / folder).items()
        if any(name.startswith(forbidden) for name in names)
    }
    assert not offending


def test_the_generic_stage_alone_offers_only_the_generic_backends() -> None:
    code = (
        "import sys, asebench.annotation as a\n"
        "print(sorted(a.BACKENDS))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('asebench.domains', 'asebench.methods', 'scipy', 'torch'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    backends, heavy = result.stdout.splitlines()
    assert backends == "['cache', 'openai', 'transformers']"
    assert heavy == "[]"
    code = "import asebench.domains.ase.annotation, asebench.annotation as a; print(sorted(a.BACKENDS))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "['cache', 'dot-cloud-describer', 'numeric-reasoner', 'openai', 'transformers']"
