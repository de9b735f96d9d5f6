"""The ``asebench`` command line: one module per subcommand.

Errors the user can fix (bad config, missing data, unknown names) are printed
as one red line (indented lines under it continue it: the list of a dataset's
bad files) and exit with status 2; failed cells exit with status 1.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from asebench.api.errors import AsebenchError
from asebench.cli import compare_command, list_command, report_command, run_command, tables_command
from asebench.cli.console import error_console

app = typer.Typer(
    name="asebench",
    help="Benchmark harness for industrial defect classifiers: macro-F1 tables with tail analysis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("run")(run_command.run)
app.command("list")(list_command.list_plugins)
app.command("report")(report_command.report)
app.command("tables")(tables_command.tables)
app.command("compare")(compare_command.compare)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except AsebenchError as exc:
        for line in str(exc).splitlines():
            # an indented line continues the error above it (one problem of a list, a hint)
            prefix = "" if line[:1].isspace() else "[bold red]error:[/] "
            error_console.print(f"{prefix}{escape(line)}", highlight=False, soft_wrap=True)
        sys.exit(2)
