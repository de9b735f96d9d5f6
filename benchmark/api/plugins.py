"""Loading plugins named on the command line (``--plugin MODULE_OR_PATH``).

Entry-point plugins are discovered by the registries themselves; this module
handles the explicit ones: an importable module name (``my_pkg.my_methods``) or
the path of a ``.py`` file. Their ``@register_method``/``@register_dataset``
decorators do the registering.

A plugin named explicitly that fails (missing, does not import, registers a
name already taken) is the user's mistake to fix: :func:`load_plugins` raises
one :class:`PluginError` naming the file, the line and the cause, instead of
the quiet warning that lets the run go on without the user's method.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

from asebench.api.errors import PluginError
from asebench.api.registry import METHODS, BrokenPlugin, failure_location

PLUGIN_MODULE_PREFIX = "asebench_plugin_"  # module names of ``--plugin`` files: synthetic, made from the path
SOURCE_ATTRIBUTE = "__asebench_source_sha256__"  # set on a plugin file's module: the text it was imported from


def load_plugin(spec: str) -> BrokenPlugin | None:
    """Import one plugin; return the failure (also recorded in the registry) or None.

    ``asebench list`` uses this to show a broken plugin next to the rest; a run
    uses :func:`load_plugins`, which makes the failure an error.
    """
    is_file = spec.endswith(".py") or Path(spec).is_file()
    try:
        if is_file:
            _import_file(Path(spec))
        else:
            importlib.import_module(spec)
    except Exception as exc:  # noqa: BLE001 - a plugin's import failure is reported, never fatal for the other methods
        file = _plugin_file(spec, is_file)
        broken = BrokenPlugin(
            f"--plugin {spec}", _error_text(exc), traceback.format_exc(), location=failure_location(exc, file)
        )
        METHODS.record_broken(broken)
        return broken
    return None


def load_plugins(specs: Iterable[str]) -> None:
    """Import every plugin the user named; raise one :class:`PluginError` listing each that failed."""
    broken = [b for b in (load_plugin(spec) for spec in specs) if b is not None]
    if broken:
        raise PluginError("\n".join(b.describe() for b in broken))


def _error_text(exc: BaseException) -> str:
    """``Type: message``; a SyntaxError's own text repeats the file and line, which the location already gives."""
    message = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    return f"{type(exc).__name__}: {message}"


def _plugin_file(spec: str, is_file: bool) -> Path | None:
    """The file a plugin spec names (a module name is looked up without importing it again)."""
    if is_file:
        return Path(spec).expanduser().resolve()
    try:
        found = importlib.util.find_spec(spec)
    except (ImportError, ValueError):
        return None
    return Path(found.origin).resolve() if found is not None and found.origin else None


def _import_file(path: Path) -> None:
    """Import a plugin file under a module name made from its path; import it again once its text changed.

    Importing it again matters in a long-lived process (a notebook, the tests):
    the cell identity hashes the file on disk, so the registered class must be
    the one that file defines now, not the one imported before the edit.
    """
    path = path.expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"plugin file not found: {path}")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    module_name = f"{PLUGIN_MODULE_PREFIX}{path.stem}_{digest}"
    source = hashlib.sha256(path.read_bytes()).hexdigest()
    previous = sys.modules.get(module_name)
    if previous is not None and getattr(previous, SOURCE_ATTRIBUTE, None) == source:
        return
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is None:
            del sys.modules[module_name]
        else:
            sys.modules[module_name] = previous
        raise
    setattr(module, SOURCE_ATTRIBUTE, source)
