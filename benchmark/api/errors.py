"""Errors the harness raises on purpose.

Every error a user can cause (bad config, bad data, bad plugin) derives from
:class:`AsebenchError`, so the CLI can print its message as one clear line
instead of a traceback.
"""

from __future__ import annotations


class AsebenchError(Exception):
    """Base class for errors whose message is meant for the user."""


class ConfigError(AsebenchError):
    """A configuration file or option is invalid (unknown key, bad value)."""


class DatasetError(AsebenchError):
    """A dataset cannot be loaded: missing directory, corrupt file, empty class."""


class UnknownNameError(AsebenchError):
    """A method or dataset name matches nothing in its registry."""


class PluginError(AsebenchError):
    """A plugin could not be imported or does not follow the contract."""


class ResultsError(AsebenchError):
    """The results directory cannot be written or holds unreadable records."""


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or infinite loss; the cell is recorded as failed."""


class MethodUnavailable(AsebenchError):
    """A method cannot run here (missing weights, missing extra); the cell is skipped."""
