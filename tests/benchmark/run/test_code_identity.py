"""A class's code identity covers its module and what it is built from, and nothing else.

Each test writes a small importable package (a method module, a helper it
imports lazily inside a function, a sibling it imports relatively, a module it
never imports, a stand-in third-party package and a declared data file) under
a unique name, so the per-process memos of module locations never mix tests.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from asebench.api.errors import PluginError
from asebench.api.plugins import load_plugin
from asebench.api.registry import METHODS
from asebench.run.code_identity import MACHINERY, CodeHasher, code_identity

METHOD_SOURCE = """\
import numpy as np

from asebench.api.method import Method
from {third_party} import constant

from . import _shared


class Tiny(Method):
    code_files = {code_files!r}

    def fit(self, train, val):
        from {package}._helpers.lazy import helper  # imported lazily, as methods import torch
        from asebench.components.logistic_head import LogisticHead

        return helper() + _shared.OFFSET + constant

    def predict(self, test):
        raise NotImplementedError
"""


@dataclass
class Package:
    name: str
    root: Path  # the package folder
    third_party: Path  # a stand-in third-party package the method imports

    def file(self, relative: str) -> Path:
        return self.root / relative

    def tiny(self) -> type:
        return importlib.import_module(f"{self.name}.method").Tiny  # type: ignore[no-any-return]


def write_package(base: Path, code_files: tuple[str, ...]) -> Package:
    """A package and a stand-in third-party one under ``base``, which the caller puts on ``sys.path``."""
    tag = uuid.uuid4().hex[:8]
    name, third_party = f"idpkg_{tag}", f"otherlib_{tag}"
    root = base / name
    (root / "_helpers").mkdir(parents=True)
    (root / "__init__.py").write_text('"""A plugin package."""\n')
    (root / "_helpers" / "__init__.py").write_text("")
    (root / "_helpers" / "lazy.py").write_text("def helper():\n    return 1\n")
    (root / "_shared.py").write_text("OFFSET = 2\n")
    (root / "unused.py").write_text("VALUE = 3\n")
    (root / "prompts.txt").write_text("a photo of a defect\n")
    (root / "method.py").write_text(METHOD_SOURCE.format(package=name, third_party=third_party, code_files=code_files))
    (base / third_party).mkdir()
    (base / third_party / "__init__.py").write_text("constant = 4\n")
    return Package(name, root, base / third_party)


@pytest.fixture()
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Package]]:
    """Factory of importable packages (``packages(code_files=(...))``), removed from ``sys.modules`` after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[Package] = []

    def make(code_files: tuple[str, ...] = ("prompts.txt",)) -> Package:
        written.append(write_package(tmp_path, code_files))
        return written[-1]

    yield make
    names = tuple(name for package in written for name in (package.name, package.third_party.name))
    for module in [m for m in sys.modules if m.startswith(names)]:
        del sys.modules[module]


@pytest.fixture()
def package(packages: Callable[..., Package]) -> Package:
    return packages()


def test_the_module_its_imports_and_declared_files_are_hashed_and_nothing_else(package: Package) -> None:
    files = code_identity(package.tiny())["files"]
    own = {key for key in files if key.startswith(package.name)}
    assert own == {
        package.name,  # the package __init__ runs before the module
        f"{package.name}.method",
        f"{package.name}._shared",  # from . import _shared
        f"{package.name}._helpers",
        f"{package.name}._helpers.lazy",  # imported inside fit
        f"{package.name}.method:prompts.txt",  # code_files
    }
    machinery = set(files) - own
    assert {"asebench.components", "asebench.components.logistic_head"} <= machinery
    assert all(key.startswith(MACHINERY) for key in machinery)  # never numpy, never asebench.api


def test_editing_a_lazily_imported_helper_changes_the_digest_and_names_the_file(package: Package) -> None:
    before = code_identity(package.tiny())
    package.file("_helpers/lazy.py").write_text("def helper():\n    return 10\n")
    after = code_identity(package.tiny())
    assert after["digest"] != before["digest"]
    assert {key for key in after["files"] if after["files"][key] != before["files"][key]} == {
        f"{package.name}._helpers.lazy"
    }


def test_editing_a_third_party_module_or_an_unused_one_leaves_the_digest_alone(package: Package) -> None:
    before = code_identity(package.tiny())
    (package.third_party / "__init__.py").write_text("constant = 40\n")
    package.file("unused.py").write_text("VALUE = 30\n")
    after = code_identity(package.tiny())
    assert after == before
    assert not any(key.startswith(package.third_party.name) for key in after["files"])


def test_a_declared_code_file_is_part_of_the_digest(package: Package) -> None:
    before = code_identity(package.tiny())
    package.file("prompts.txt").write_text("a photo of a scratch\n")
    assert code_identity(package.tiny())["digest"] != before["digest"]


def test_a_declared_folder_hashes_every_file_in_it(packages: Callable[..., Package]) -> None:
    package = packages(code_files=("templates",))
    (package.root / "templates").mkdir()
    (package.root / "templates" / "one.txt").write_text("1")
    (package.root / "templates" / "two.txt").write_text("2")
    files = code_identity(package.tiny())["files"]
    assert {key for key in files if ":" in key} == {
        f"{package.name}.method:templates/one.txt",
        f"{package.name}.method:templates/two.txt",
    }


def test_a_missing_declared_file_is_a_plugin_error(packages: Callable[..., Package]) -> None:
    package = packages(code_files=("nowhere.txt",))
    with pytest.raises(PluginError, match=r"nowhere\.txt"):
        code_identity(package.tiny())


def test_windows_line_endings_give_the_same_digest(package: Package) -> None:
    before = code_identity(package.tiny())
    for path in package.root.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".txt"}:
            path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert code_identity(package.tiny()) == before


def test_one_hasher_reads_each_file_once_and_a_new_one_sees_edits(package: Package) -> None:
    hasher = CodeHasher()
    before = hasher.identity(package.tiny())
    package.file("_shared.py").write_text("OFFSET = 20\n")
    assert hasher.identity(package.tiny()) == before  # one planning pass sees one state of the files
    assert CodeHasher().identity(package.tiny()) != before


@pytest.mark.usefixtures("isolated_methods")
def test_a_plugin_file_is_named_by_its_file_and_reloaded_after_an_edit(tmp_path: Path) -> None:
    name = f"ident-{uuid.uuid4().hex[:8]}"
    plugin = tmp_path / "ident_plugin.py"
    source = (
        "from asebench.api.method import Method\n"
        "from asebench.api.registry import register_method\n\n"
        f"@register_method({name!r})\n"
        "class Ident(Method):\n"
        "    def fit(self, train, val):\n"
        "        return {value}\n\n"
        "    def predict(self, test):\n"
        "        raise NotImplementedError\n"
    )
    plugin.write_text(source.format(value=1))
    assert load_plugin(str(plugin)) is None
    first = METHODS.get(name)
    before = code_identity(first)
    assert list(before["files"]) == ["ident_plugin.py"]

    plugin.write_text(source.format(value=2))
    assert load_plugin(str(plugin)) is None
    second = METHODS.get(name)
    assert second is not first  # the edited file was imported again: the class that runs is the one hashed
    assert code_identity(second)["digest"] != before["digest"]
    assert load_plugin(str(plugin)) is None and METHODS.get(name) is second  # unchanged: not imported again
