"""``scripts/typecheck.py``: the link farm maps the three source folders as setuptools installs them.

No mypy run here (``make lint`` does that); these check the farm, the path mapping back to the
sources and the call the script makes.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest
import tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("asebench_typecheck_script", REPO_ROOT / "scripts" / "typecheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


typecheck = _load_script()


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """The three folders with a module each, a py.typed marker and a __pycache__ that must stay out."""
    root = tmp_path / "repo"
    (root / "benchmark" / "api").mkdir(parents=True)
    (root / "benchmark" / "api" / "contract.py").write_text("X = 1\n")
    (root / "benchmark" / "py.typed").write_text("")
    (root / "benchmark" / "__pycache__").mkdir()
    (root / "methods").mkdir()
    (root / "methods" / "majority.py").write_text("Y = 2\n")
    (root / "datasets").mkdir()
    (root / "datasets" / "folder.py").write_text("Z = 3\n")
    return root


def test_the_mapping_is_the_one_setuptools_installs() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir = config["tool"]["setuptools"]["package-dir"]
    expected = {typecheck.PACKAGE: typecheck.PACKAGE_DIR}
    expected.update({f"{typecheck.PACKAGE}.{name}": folder for name, folder in typecheck.SUBPACKAGE_DIRS.items()})
    assert package_dir == expected


def test_the_farm_links_every_entry_of_benchmark_plus_methods_and_datasets(fake_repo: Path, tmp_path: Path) -> None:
    package = typecheck.build_link_farm(fake_repo, tmp_path / "farm")
    assert package == tmp_path / "farm" / "asebench"
    assert sorted(p.name for p in package.iterdir()) == ["api", "datasets", "methods", "py.typed"]
    assert all(p.is_symlink() for p in package.iterdir())
    assert (package / "api" / "contract.py").read_text() == "X = 1\n"
    assert (package / "methods" / "majority.py").read_text() == "Y = 2\n"
    assert (package / "datasets" / "folder.py").read_text() == "Z = 3\n"
    assert (package / "api").resolve() == (fake_repo / "benchmark" / "api").resolve()
    assert not (package / "__init__.py").exists()  # a namespace package, as installed


def test_rebuilding_drops_stale_links_and_never_touches_the_sources(fake_repo: Path, tmp_path: Path) -> None:
    farm = tmp_path / "farm"
    (fake_repo / "benchmark" / "gone").mkdir()
    typecheck.build_link_farm(fake_repo, farm)
    (fake_repo / "benchmark" / "gone").rmdir()
    package = typecheck.build_link_farm(fake_repo, farm)
    assert not (package / "gone").exists() and not (package / "gone").is_symlink()
    assert (fake_repo / "methods" / "majority.py").is_file() and (
        fake_repo / "benchmark" / "api" / "contract.py"
    ).is_file()


def test_the_links_are_relative_so_the_checkout_can_move(fake_repo: Path) -> None:
    package = typecheck.build_link_farm(fake_repo)
    assert package == fake_repo / "build" / "typecheck" / "asebench"
    moved = fake_repo.rename(fake_repo.with_name("moved"))
    assert (moved / "build" / "typecheck" / "asebench" / "methods" / "majority.py").is_file()


def test_a_benchmark_folder_named_like_a_mapped_subpackage_is_refused(fake_repo: Path, tmp_path: Path) -> None:
    (fake_repo / "benchmark" / "methods").mkdir()
    with pytest.raises(RuntimeError, match=r"benchmark/methods would hide the methods/ folder"):
        typecheck.build_link_farm(fake_repo, tmp_path / "farm")


def test_the_real_repository_maps_its_modules(tmp_path: Path) -> None:
    package = typecheck.build_link_farm(REPO_ROOT, tmp_path / "farm")
    assert (package / "api" / "registry.py").resolve() == REPO_ROOT / "benchmark" / "api" / "registry.py"
    assert (package / "scoring" / "statistics.py").resolve() == REPO_ROOT / "benchmark" / "scoring" / "statistics.py"
    assert (package / "methods" / "majority.py").resolve() == REPO_ROOT / "methods" / "majority.py"
    assert (package / "datasets" / "folder.py").resolve() == REPO_ROOT / "datasets" / "folder.py"
    assert (package / "py.typed").is_file()


def test_plugin_examples_are_linked_beside_the_package_and_stale_links_go(fake_repo: Path, tmp_path: Path) -> None:
    farm = tmp_path / "farm"
    (fake_repo / "docs" / "examples").mkdir(parents=True)
    (fake_repo / "docs" / "examples" / "my_plugin.py").write_text("W = 4\n")
    assert typecheck.link_examples(fake_repo, farm) == ["my_plugin"]
    assert (farm / "my_plugin.py").is_symlink() and (farm / "my_plugin.py").read_text() == "W = 4\n"
    (fake_repo / "docs" / "examples" / "my_plugin.py").rename(fake_repo / "docs" / "examples" / "renamed.py")
    assert typecheck.link_examples(fake_repo, farm) == ["renamed"]
    assert not (farm / "my_plugin.py").is_symlink()


def test_the_real_repository_checks_its_plugin_examples() -> None:
    assert REPO_ROOT / "docs" / "examples" / "histogram_forest.py" in typecheck.example_files(REPO_ROOT)
    command = typecheck.mypy_command(["--no-incremental"], REPO_ROOT, ["histogram_forest"])
    assert command[command.index("-m", 3) + 1] == "histogram_forest"
    assert typecheck.source_path("histogram_forest.py") == "docs/examples/histogram_forest.py"


@pytest.mark.parametrize(
    ("printed", "source"),
    [
        ("asebench/api/registry.py", "benchmark/api/registry.py"),
        ("asebench/methods/_clip/windows.py", "methods/_clip/windows.py"),
        ("asebench/datasets/folder.py", "datasets/folder.py"),
        ("asebench/cli/__init__.py", "benchmark/cli/__init__.py"),
        ("/site-packages/numpy/__init__.pyi", "/site-packages/numpy/__init__.pyi"),
        ("Found 2 errors in 1 file (checked 158 source files)", "Found 2 errors in 1 file (checked 158 source files)"),
    ],
)
def test_paths_in_messages_become_source_paths(printed: str, source: str) -> None:
    assert typecheck.source_path(printed) == source


def test_the_command_checks_the_package_with_this_interpreter_and_the_repository_config() -> None:
    command = typecheck.mypy_command(["--no-incremental"])
    assert command[:3] == [sys.executable, "-m", "mypy"]
    assert command[command.index("-p") + 1] == "asebench"
    assert command[command.index("--python-executable") + 1] == sys.executable
    assert command[command.index("--config-file") + 1] == str(REPO_ROOT / "pyproject.toml")
    assert command[-1] == "--no-incremental"


class _FakeMypy:
    """Stands in for the mypy process: records how it was started, prints two lines, exits 1."""

    calls: ClassVar[list[dict[str, Any]]] = []  # every start in one test

    def __init__(self, command: list[str], **kwargs: Any) -> None:
        type(self).calls.append({"command": command, **kwargs})
        self.stdout = io.StringIO(
            "asebench/api/data.py:3: error: Incompatible return value type  [return-value]\nFound 1 error in 1 file\n"
        )
        self.returncode = 1

    def __enter__(self) -> _FakeMypy:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def fake_mypy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[type[_FakeMypy]]:
    _FakeMypy.calls = []
    monkeypatch.setattr(typecheck, "ROOT", tmp_path / "repo")
    monkeypatch.setattr(subprocess, "Popen", _FakeMypy)
    yield _FakeMypy


def test_main_runs_mypy_in_the_farm_and_returns_its_exit_code(
    fake_repo: Path, fake_mypy: type[_FakeMypy], capsys: pytest.CaptureFixture[str]
) -> None:
    assert typecheck.main(["--strict"]) == 1
    [call] = fake_mypy.calls
    farm = fake_repo / "build" / "typecheck"
    assert call["cwd"] == farm and call["env"]["MYPYPATH"] == str(farm)
    assert call["command"][-1] == "--strict"
    assert (farm / "asebench" / "methods" / "majority.py").is_file()
    assert capsys.readouterr().out.splitlines() == [
        "benchmark/api/data.py:3: error: Incompatible return value type  [return-value]",
        "Found 1 error in 1 file",
    ]
