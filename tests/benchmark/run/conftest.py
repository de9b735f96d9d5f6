"""Fixtures of the run tests: method plugins written by a test, registered for that test only."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from asebench.api.plugins import PLUGIN_MODULE_PREFIX
from asebench.api.registry import METHODS


@pytest.fixture()
def isolated_methods(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Methods a test registers (``--plugin`` files it writes) are forgotten after it, so no later test sees them."""
    METHODS.discover()  # the built-ins stay: only what the test adds goes
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    monkeypatch.setattr(METHODS, "_broken", list(METHODS._broken))
    before = {name for name in sys.modules if name.startswith(PLUGIN_MODULE_PREFIX)}
    yield
    for name in [m for m in sys.modules if m.startswith(PLUGIN_MODULE_PREFIX) and m not in before]:
        del sys.modules[name]
