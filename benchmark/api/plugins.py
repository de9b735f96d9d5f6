"""Loading plugins named on the command line (``--plugin MODULE_OR_PATH``).

Entry-point plugins are discovered by the registries themselves; this module
handles the explicit ones: an importable module name (``my_pkg.my_methods``) or
the path of a ``.py`` file. Their ``@register_method``/``@register_dataset``
decorators do the registering.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

from asebench.api.registry import METHODS, BrokenPlugin

PLUGIN_MODULE_PREFIX = "asebench_plugin_"  # module names of ``--plugin`` files: synthetic, made from the path
SOURCE_ATTRIBUTE = "__asebench_source_sha256__"  # set on a plugin file's module: the text it was imported from


def load_plugin(spec: str) -> BrokenPlugin | None:
    """Import one plugin; return the failure (also recorded in the registry) or None."""
    try:
        if spec.endswith(".py") or Path(spec).is_file():
            _import_file(Path(spec))
        else:
            importlib.import_module(spec)
    except Exception as exc:  # noqa: BLE001 - a plugin's import failure is reported, never fatal for the other methods
        broken = BrokenPlugin(f"--plugin {spec}", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        METHODS.record_broken(broken)
        return broken
    return None


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
