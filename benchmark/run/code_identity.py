"""The code identity of a method or dataset adapter: a hash of the source it is built from.

A cell's config hash covers options, data and the class's ``version``; the
code identity adds the code itself, so that editing a method recomputes its
cells instead of reusing the old score. The files hashed for a class are:

* the module that defines it (a ``--plugin`` file: that file), and the
  modules of its base classes that are tracked too (a plugin subclassing a
  built-in method);
* the modules those import, followed statically (:mod:`ast`: ``import x``,
  ``from x import y``, relative imports, and imports inside functions, where
  methods import their heavy parts), transitively, but only within the
  module's own top-level package (``my_pkg.*``; ``asebench.methods.*`` or
  ``asebench.datasets.*`` for built-ins) and asebench's method machinery
  (:data:`MACHINERY`). Third-party packages and the harness core (contracts,
  runner, scoring, store, reports) are never part of it: they change the
  installed version, not one method's results;
* the package ``__init__`` files above each module within those packages;
* the files the class declares in ``code_files`` (paths relative to its
  module's folder; a folder means every file in it), for data the code reads
  or modules it imports dynamically.

Line endings are normalised before hashing, so a Windows checkout gives the
same digest. Files are read again by every :class:`CodeHasher` (one per
planning pass, so an edit in a long-lived process is seen) and parsed once per
content per process; module locations are memoised per process.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterator
from functools import cache
from importlib.machinery import ModuleSpec
from pathlib import Path

from asebench.api.errors import PluginError
from asebench.api.plugins import PLUGIN_MODULE_PREFIX
from asebench.api.records import CodeIdentity

# shared method code outside a method's own package: editing the training loop recomputes its users
MACHINERY = ("asebench.components", "asebench.domains", "asebench.annotation")

# (content sha256, module, is a package, scopes) -> the (module, file) it imports within those scopes
_dependencies: dict[tuple[str, str, bool, tuple[str, ...]], tuple[tuple[str, str], ...]] = {}


def code_identity(cls: type) -> CodeIdentity:
    """The sha256 of the source ``cls`` is built from, and of each file that went into it (read now)."""
    return CodeHasher().identity(cls)


class CodeHasher:
    """Code identities computed in one pass, such as planning a grid: each file is read once per pass.

    A new pass reads the files again, so an edit made in between (in a
    notebook, in the tests) is seen; parsing is memoised per file content.
    """

    def __init__(self) -> None:
        self._identities: dict[type, CodeIdentity] = {}
        self._files: dict[str, tuple[str, bytes]] = {}  # path -> (sha256, normalised text)

    def identity(self, cls: type) -> CodeIdentity:
        """The code identity of ``cls`` (see the module docstring for which files it covers)."""
        if cls not in self._identities:
            self._identities[cls] = self._compute(cls)
        return self._identities[cls]

    def _compute(self, cls: type) -> CodeIdentity:
        files: dict[str, str] = {}
        seen: set[str] = set()
        for owner in _tracked_classes(cls):
            origin = getattr(sys.modules.get(owner.__module__), "__file__", None)
            if origin is None:  # defined interactively: no source to hash
                continue
            key = _root_key(owner.__module__, Path(origin).name)
            scopes = (package_scope(owner.__module__), *MACHINERY)
            self._hash_modules([(owner.__module__, key, origin)], scopes, files, seen)
            for name, path in _declared_files(owner, key, Path(origin).parent):
                files[name] = self._file(path)[0]
        lines = "".join(f"{name}\0{digest}\n" for name, digest in sorted(files.items()))
        return CodeIdentity(digest=hashlib.sha256(lines.encode()).hexdigest(), files=dict(sorted(files.items())))

    def _file(self, path: str) -> tuple[str, bytes]:
        if path not in self._files:
            source = _read(path)
            self._files[path] = (hashlib.sha256(source).hexdigest(), source)
        return self._files[path]

    def _hash_modules(
        self, queue: list[tuple[str, str, str]], scopes: tuple[str, ...], files: dict[str, str], seen: set[str]
    ) -> None:
        """Hash every queued ``(module, key, file)`` and, transitively, the in-scope modules it imports."""
        while queue:
            name, key, path = queue.pop()
            if name in seen:
                continue
            seen.add(name)
            digest, source = self._file(path)
            files[key] = digest
            found = (digest, name, path.endswith("__init__.py"), scopes)
            dependencies = _dependencies.get(found)
            if dependencies is None:
                dependencies = _dependencies[found] = _in_scope_dependencies(source, *found[1:])
            queue.extend((module, module, file) for module, file in dependencies if module not in seen)


def package_scope(module: str) -> str:
    """The package whose modules count as a module's own: its top-level one (two levels inside asebench)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "asebench" and len(parts) > 1 else parts[0]


def within(name: str, packages: tuple[str, ...]) -> bool:
    """Whether module ``name`` is one of ``packages`` or inside one."""
    return any(name == package or name.startswith(package + ".") for package in packages)


def _tracked_classes(cls: type) -> list[type]:
    """``cls`` and its bases whose modules are tracked: its own package, built-in plugins, machinery."""
    tracked = (package_scope(cls.__module__), "asebench.methods", "asebench.datasets", *MACHINERY)
    return [klass for klass in cls.__mro__ if klass is cls or within(klass.__module__, tracked)]


def _root_key(module: str, file_name: str) -> str:
    """A plugin file (or a script) is named by its file name, every other module by its module name."""
    synthetic = module.startswith(PLUGIN_MODULE_PREFIX) or module == "__main__"
    return file_name if synthetic else module


def _in_scope_dependencies(
    source: bytes, name: str, is_package: bool, scopes: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """``(module, file)`` of what running ``source`` imports within ``scopes``, its own packages included."""
    candidates = [parent for target in _imported_names(source, name, is_package) for parent in _with_parents(target)]
    candidates += _with_parents(name)[1:]  # the packages that run before the module
    found = {}
    for candidate in dict.fromkeys(candidates):
        if candidate != name and within(candidate, scopes) and (file := module_file(candidate)) is not None:
            found[candidate] = file
    return tuple(found.items())


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``[a.b.c, a.b, a]``: importing a module runs its packages first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _read(path: str | Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read().replace(b"\r\n", b"\n")
    except OSError as exc:
        raise PluginError(f"cannot read {path} to hash its code: {exc.strerror or exc}") from exc


def _imported_names(source: bytes, module: str, is_package: bool) -> tuple[str, ...]:
    """Absolute names of every module ``source`` may import, anywhere in it (``from m import x``: m and m.x)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # it will fail when imported; its text is hashed all the same
        return ()
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".") if node.level and package else []
            if node.level > len(parts):
                continue  # beyond the top-level package: an import error when run, nothing to follow
            base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return tuple(dict.fromkeys(names))


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones too (in functions, classes, ``if``, ``try``): imports are statements."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        for field in _BODIES:
            block = getattr(node, field, None)
            if block:
                for child in reversed(block):
                    stack.extend(reversed(child.body) if isinstance(child, _BLOCKS) else [child])


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
_BLOCKS = (ast.ExceptHandler, ast.match_case)  # hold statements without being statements


@cache
def module_file(name: str) -> str | None:
    """The source file of module ``name``, found without importing it, or None (no module, not Python source)."""
    spec = _spec(name)
    origin = spec.origin if spec is not None else None
    return origin if origin is not None and origin.endswith(".py") and os.path.isfile(origin) else None


def _spec(name: str) -> ModuleSpec | None:
    module = sys.modules.get(name)
    if module is not None:
        return getattr(module, "__spec__", None)
    parent = name.rpartition(".")[0]
    try:
        if not parent or parent in sys.modules:
            return importlib.util.find_spec(name)  # imports nothing new: the parent (if any) is imported
        parent_spec = _spec(parent)
        locations = parent_spec.submodule_search_locations if parent_spec is not None else None
        if locations is None:
            return None
        try:
            return importlib.machinery.PathFinder.find_spec(name, list(locations))
        except KeyError:  # a namespace package below a package not imported yet: let the import system find it
            return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _declared_files(owner: type, key: str, folder: Path) -> list[tuple[str, str]]:
    """``(name, path)`` of each file ``owner.code_files`` names (a folder: each file in it), named ``key:path``."""
    found: list[tuple[str, str]] = []
    for entry in owner.__dict__.get("code_files", ()):
        path = folder / entry
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        elif path.is_file():
            files = [path]
        else:
            raise PluginError(f"{owner.__qualname__}.code_files names {entry!r}, which is not in {folder}")
        found.extend((f"{key}:{file.relative_to(folder).as_posix()}", str(file)) for file in files)
    return found
