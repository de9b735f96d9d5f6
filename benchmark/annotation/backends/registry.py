"""Text backends by name: the generic ones are listed here, a domain adds its own with :func:`register_backend`.

The registry is open in one direction only: ``asebench.domains.ase.stand_ins``
registers the two offline stand-ins (``dot-cloud-describer``,
``numeric-reasoner``) when it is imported, and this module never imports a
domain. :data:`BACKENDS` is a read-only view that shows later registrations.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import ValidationError

from asebench.annotation.backends.base import TextBackend
from asebench.annotation.backends.jsonl_cache import JsonlCacheBackend
from asebench.annotation.backends.openai_compat import OpenAICompatBackend
from asebench.annotation.backends.transformers_local import TransformersBackend
from asebench.api.errors import ConfigError

B = TypeVar("B", bound=type[TextBackend])

_REGISTERED: dict[str, type[TextBackend]] = {}
BACKENDS: Mapping[str, type[TextBackend]] = MappingProxyType(_REGISTERED)


def register_backend(backend_class: B) -> B:
    """Offer ``backend_class`` under its ``name`` (usable as a class decorator).

    Registering the same class again (a re-imported module) replaces it;
    another class under a taken name is an error.
    """
    name = backend_class.name
    if not name:
        raise ValueError(f"{backend_class.__qualname__} has no name")
    existing = _REGISTERED.get(name)
    if existing is not None and _identity(existing) != _identity(backend_class):
        raise ValueError(f"text backend {name!r} is already registered by {_identity(existing)}")
    _REGISTERED[name] = backend_class
    return backend_class


def _identity(backend_class: type[TextBackend]) -> str:
    return f"{backend_class.__module__}.{backend_class.__qualname__}"


for _generic in (OpenAICompatBackend, TransformersBackend, JsonlCacheBackend):
    register_backend(_generic)


def make_backend(name: str, options: Mapping[str, Any] | None = None) -> TextBackend:
    """The backend registered as ``name``, with ``options`` validated by its ``Options`` model."""
    try:
        backend_class = BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown text backend {name!r}; choose one of {', '.join(BACKENDS)}") from None
    try:
        parsed = backend_class.Options.model_validate(dict(options or {}))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"bad options for text backend {name!r}: {problems}") from None
    return backend_class(parsed)
