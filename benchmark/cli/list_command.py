"""``asebench list``: every method and dataset, what it needs, which split protocols it runs under, and whether it runs here."""

from __future__ import annotations

from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from asebench.api.data import DatasetAdapter
from asebench.api.errors import PluginError
from asebench.api.method import Method
from asebench.api.plugins import load_plugin
from asebench.api.registry import DATASETS, METHODS, Registry
from asebench.cli.console import console

Plugin = TypeVar("Plugin", Method, DatasetAdapter)


def _status(reason: str | None) -> str:
    return "[green]yes[/]" if reason is None else f"[yellow]no: {escape(reason)}[/]"


def _describe(registry: Registry[Plugin], name: str) -> tuple[type[Plugin] | None, str]:
    """Load one entry and ask whether it can run; a failure is shown, not raised."""
    try:
        entry = registry.entry(name)
        cls = registry.get(name)
    except Exception as exc:  # noqa: BLE001 - a broken plugin is listed, never fatal
        return None, f"[red]broken: {escape(str(exc))}[/]"
    try:
        options = cls.Options.model_validate(dict(entry.defaults))
    except ValidationError as exc:
        missing = [".".join(map(str, e["loc"])) for e in exc.errors() if e["type"] == "missing"]
        return cls, f"[yellow]needs options: {', '.join(missing) or 'see docs'}[/]"
    try:
        return cls, _status(cls.availability(options))
    except Exception as exc:  # noqa: BLE001 - a broken plugin is listed, never fatal
        return None, f"[red]broken: {escape(str(exc))}[/]"


def method_table() -> Table:
    table = Table(title="methods", title_justify="left")
    for column in ("name", "family", "capabilities", "source", "split protocols", "runs here"):
        table.add_column(column, overflow="fold")
    for name in METHODS.names():
        cls, status = _describe(METHODS, name)
        capabilities = ", ".join(cls.capabilities.labels()) if cls else "?"
        protocols = ", ".join(cls.capabilities.protocols()) if cls else "?"
        table.add_row(
            name, cls.family if cls else "?", capabilities or "-", METHODS.entry_source(name), protocols, status
        )
    table.caption = (
        "official / transfer: per-category anomaly protocols (fit on normal images, score the official test split); "
        "classifiers are skipped there with the reason"
    )
    return table


def dataset_table() -> Table:
    table = Table(title="datasets", title_justify="left")
    for column in ("name", "description", "source", "available here"):
        table.add_column(column, overflow="fold")
    for name in DATASETS.names():
        cls, status = _describe(DATASETS, name)
        table.add_row(name, cls.description if cls else "?", DATASETS.entry_source(name), status)
    return table


def list_plugins(
    plugin: Annotated[
        list[str] | None, typer.Option("--plugin", "-p", help="Plugin module or .py file (repeatable).")
    ] = None,
) -> None:
    """List methods and datasets with family, capabilities and availability."""
    failed = [b for b in (load_plugin(spec) for spec in plugin or []) if b is not None]
    console.print(method_table())
    console.print(dataset_table())
    broken = METHODS.broken() + DATASETS.broken()
    if broken:
        table = Table(title="plugins that failed to import", title_justify="left")
        table.add_column("source")
        table.add_column("error", overflow="fold")
        table.add_column("at", overflow="fold")
        for item in broken:
            table.add_row(item.source, f"[red]{escape(item.error)}[/]", escape(item.location))
        console.print(table)
    if failed:  # the rest is listed above; a plugin the user named that fails is still an error
        raise PluginError("\n".join(b.describe() for b in failed))
