"""Typed registries for methods and datasets.

Three sources feed a registry, all lazily:

1. built-ins: every module of ``asebench.methods`` / ``asebench.datasets``
   whose name does not start with ``_`` is imported the first time a name is
   needed; its ``@register_method`` / ``@register_dataset`` decorators add it.
   Plugin modules keep torch and friends inside functions, so this is cheap.
2. entry points: the groups ``asebench.methods`` and ``asebench.datasets`` of
   installed distributions; the entry point's name is the registered name and
   its target (``module:Class``) is imported only when the entry is used.
3. ``--plugin MODULE_OR_PATH``: a module or ``.py`` file imported at start-up.

A source that fails to import is kept as a :class:`BrokenPlugin` with its
error; it never hides the other entries.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import pkgutil
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from asebench.api.data import DatasetAdapter
from asebench.api.errors import PluginError, UnknownNameError
from asebench.api.method import Method

T = TypeVar("T")


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin source that could not be imported, with the reason."""

    source: str
    error: str
    details: str = ""
    location: str = ""  # ``file:line`` where it failed, when known

    def describe(self) -> str:
        """One line: which plugin, why, and where (the warning and the error both print it)."""
        where = f" (at {self.location})" if self.location else ""
        return f"{self.source} failed to load: {self.error}{where}"


@dataclass
class RegistryEntry(Generic[T]):
    """One registered name: a class (or a lazy ``module:attr`` target) plus preset options."""

    name: str
    target: type[T] | str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    source: str = "builtin"

    def is_loaded(self) -> bool:
        """False while the target is still a ``module:attr`` string that was not imported."""
        return not isinstance(self.target, str)


class Registry(Generic[T]):
    """A name -> plugin-class registry with lazy discovery and "did you mean"."""

    # ``base`` is a plain ``type``: the bases are abstract classes, which mypy refuses where ``type[T]`` is expected
    def __init__(self, kind: str, base: type, builtin_package: str, entry_point_group: str) -> None:
        self.kind = kind
        self.base = base
        self.builtin_package = builtin_package
        self.entry_point_group = entry_point_group
        self._entries: dict[str, RegistryEntry[T]] = {}
        self._broken: list[BrokenPlugin] = []
        self._discovered = False
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------
    def register(self, name: str, **defaults: Any) -> Callable[[type[T]], type[T]]:
        """Class decorator: register ``cls`` under ``name`` with preset option values."""

        def decorator(cls: type[T]) -> type[T]:
            if not cls.__module__.startswith(f"{self.builtin_package}."):
                # built-ins first: a plugin reusing their name must clash, not replace. A built-in itself
                # skips this, so importing one first (``asebench.datasets.mvtec``) does not import the others
                # while it is half-initialised (``anomaly_synth`` imports names from it).
                self.discover()
            self.add(name, cls, defaults=defaults, source=_source_of(cls))
            named: Any = cls  # only some bases declare ``name`` (DatasetAdapter does, Method does not)
            if hasattr(named, "name") and not named.name:
                named.name = name  # first registered name labels the data
            return cls

        return decorator

    def add(
        self, name: str, target: type[T] | str, defaults: Mapping[str, Any] | None = None, source: str = "builtin"
    ) -> None:
        """Add an entry; re-adding the same target updates it, a different one is an error."""
        if not isinstance(target, str):
            self._checked_class(name, target)
        with self._lock:
            existing = self._entries.get(name)
            if existing is None:
                self._entries[name] = RegistryEntry(name, target, dict(defaults or {}), source)
                return
            if not _same_target(existing.target, target):
                raise PluginError(
                    f"{self.kind} name {name!r} is registered twice: by {existing.source} and by {source}; "
                    "give one of them another name"
                )
            # The same class again: a plugin file imported after an edit, or an entry point's class whose
            # module registers it under the same name while the lookup imports it. Updated in place, so
            # that lookup sees the decorator's presets too, and the entry keeps where it came from; a lazy
            # ``module:Class`` never replaces the class it names.
            if not isinstance(target, str):
                existing.target = target
                existing.defaults = dict(defaults or {})

    def _checked_class(self, name: str, cls: object) -> type[T]:
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise PluginError(f"{self.kind} {name!r} must be a subclass of {self.base.__name__}, got {cls!r}")
        return cast("type[T]", cls)  # a subclass of ``base``, which is T

    # -- discovery ----------------------------------------------------------
    def discover(self) -> None:
        """Import built-in modules and read entry points, once."""
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            self._import_builtins()
            self._read_entry_points()

    def _import_builtins(self) -> None:
        package = importlib.import_module(self.builtin_package)
        for module in pkgutil.iter_modules(package.__path__, prefix=f"{self.builtin_package}."):
            if module.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            self.import_source(module.name)

    def _read_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=self.entry_point_group):
            dist = entry_point.dist.name if entry_point.dist is not None else "unknown distribution"
            try:
                self.add(entry_point.name, entry_point.value, source=f"entry point of {dist}")
            except PluginError as exc:
                self._broken.append(BrokenPlugin(f"entry point {entry_point.name} ({dist})", str(exc)))

    def import_source(self, module_name: str) -> bool:
        """Import a module whose decorators register entries; record failures."""
        try:
            importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
            error = f"{type(exc).__name__}: {exc}"
            self._broken.append(BrokenPlugin(module_name, error, traceback.format_exc(), failure_location(exc)))
            return False
        return True

    def record_broken(self, broken: BrokenPlugin) -> None:
        """Keep a failure found outside discovery (``--plugin``, a glob match) so ``asebench list`` shows it."""
        with self._lock:
            self._broken.append(broken)

    # -- lookup -------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name, sorted, after discovery; nothing is imported beyond the built-ins."""
        self.discover()
        return sorted(self._entries)

    def entry(self, name: str) -> RegistryEntry[T]:
        """Return the entry for ``name``, importing a lazy target on first use."""
        self.discover()
        with self._lock:
            if name not in self._entries:
                raise UnknownNameError(self._unknown_message(name))
            entry = self._entries[name]
            if isinstance(entry.target, str):
                entry.target = self._load_target(name, entry)
            return entry

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``, imported now if it was lazy."""
        target = self.entry(name).target
        assert not isinstance(target, str)
        return target

    def _load_target(self, name: str, entry: RegistryEntry[T]) -> type[T]:
        module_name, _, attribute = str(entry.target).partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in filter(None, attribute.split(".")):
                obj = getattr(obj, part)
        except Exception as exc:
            raise PluginError(
                f"{self.kind} {name!r} ({entry.source}) failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        return self._checked_class(name, obj)

    def entry_source(self, name: str) -> str:
        """Where a name came from (builtin, entry point, plugin) without importing it."""
        self.discover()
        if name not in self._entries:
            raise UnknownNameError(self._unknown_message(name))
        return self._entries[name].source

    def broken(self) -> list[BrokenPlugin]:
        """Plugins that failed to load, so that a listing can show them instead of failing."""
        self.discover()
        return list(self._broken)

    def resolve(self, selection: str | Iterable[str], extra_names: Iterable[str] = ()) -> list[str]:
        """Expand ``all``, names, comma lists and shell globs into registered names.

        ``extra_names`` are names defined by the run config (custom methods).
        Order follows the selection; duplicates are dropped. A name or pattern
        that matches nothing is an error that suggests the closest names.
        """
        items = [selection] if isinstance(selection, str) else list(selection)
        tokens = [token.strip() for item in items for token in item.split(",") if token.strip()]
        if not tokens:
            raise UnknownNameError(f"no {self.kind} selected")
        names = sorted(set(self.names()) | set(extra_names))
        chosen: list[str] = []
        for token in tokens:
            if token == "all":
                matches = names
            elif any(ch in token for ch in "*?["):
                matches = [name for name in names if fnmatch.fnmatchcase(name, token)]
            else:
                matches = [token] if token in names else []
            if not matches:
                raise UnknownNameError(self._unknown_message(token, names))
            chosen.extend(name for name in matches if name not in chosen)
        return chosen

    def _unknown_message(self, name: str, names: list[str] | None = None) -> str:
        """Name the plugins that failed first: the name is most likely theirs, and a loose guess would mislead."""
        names = sorted(self._entries) if names is None else names
        broken = list({b.source: b for b in self._broken}.values())
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.8 if broken else 0.5)
        if not close and not broken:
            close = [candidate for candidate in names if name.lower() in candidate.lower()][:3]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        failed = "".join(f" Perhaps it comes from a plugin that failed: {b.describe()}." for b in broken)
        return f"unknown {self.kind} {name!r}.{failed}{hint} Run `asebench list` to see all."


def failure_location(exc: BaseException, file: Path | None = None) -> str:
    """``file:line`` where an import failed: a SyntaxError's own line, else the deepest frame in ``file``.

    Without ``file`` (or no frame in it) the deepest frame outside the import machinery is the best guess.
    """
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}" if exc.lineno else str(exc.filename)
    if isinstance(exc, FileNotFoundError) and file is not None and not file.exists():
        return str(file)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _import_machinery(f.filename)]
    if file is not None:
        frames = [f for f in frames if Path(f.filename).resolve() == file] or frames
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _import_machinery(filename: str) -> bool:
    """Frames of Python's importer and of the registry itself: never where a plugin went wrong."""
    path = Path(filename)
    return filename.startswith("<") or "importlib" in path.parts or path.parent == Path(__file__).parent


def _source_of(cls: type) -> str:
    module = getattr(cls, "__module__", "?")
    return "builtin" if module.startswith("asebench.") else f"plugin {module}"


def _same_target(a: type | str, b: type | str) -> bool:
    return a is b or _qualified_name(a) == _qualified_name(b)


def _qualified_name(target: type | str) -> str:
    """``module:QualName`` of a class; a lazy target already is one."""
    return target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


METHODS: Registry[Method] = Registry("method", Method, "asebench.methods", "asebench.methods")
DATASETS: Registry[DatasetAdapter] = Registry("dataset", DatasetAdapter, "asebench.datasets", "asebench.datasets")


def register_method(name: str, **defaults: Any) -> Callable[[type[Method]], type[Method]]:
    """Register a :class:`~asebench.api.method.Method` subclass under ``name``.

    Keyword arguments preset option values, so one class can back several
    names (``resnet50`` and ``resnet50-probe``).
    """
    return METHODS.register(name, **defaults)


def register_dataset(name: str, **defaults: Any) -> Callable[[type[DatasetAdapter]], type[DatasetAdapter]]:
    """Register a :class:`~asebench.api.data.DatasetAdapter` subclass under ``name``."""
    return DATASETS.register(name, **defaults)
