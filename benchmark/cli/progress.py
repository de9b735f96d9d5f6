"""A live rich display of the run: overall cells plus the current cell's progress."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from asebench.api.records import CellRecord
from asebench.run.grid import CellPlan
from asebench.run.runner import RunObserver

STATUS_STYLE = {"ok": "green", "failed": "bold red", "skipped": "yellow"}


class RichProgress:
    """Context manager that owns the progress bars for one run."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.cells: TaskID | None = None
        self.step: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def observer(self) -> RunObserver:
        return RunObserver(
            cell_started=self._cell_started,
            cell_finished=self._cell_finished,
            method_progress=self._method_progress,
            message=lambda text: self.console.print(f"[dim]{escape(text)}[/]"),
            total_cells=self._total,
        )

    def _total(self, total: int) -> None:
        self.cells = self.progress.add_task("cells", total=total)

    def _cell_started(self, plan: CellPlan) -> None:
        if self.cells is not None:
            self.progress.update(self.cells, description=f"[bold]{escape(plan.key.label())}")
        if self.step is not None:
            self.progress.remove_task(self.step)
            self.step = None

    def _method_progress(self, description: str, completed: int, total: int) -> None:
        if self.step is None:
            self.step = self.progress.add_task(description, total=total)
        self.progress.update(self.step, description=f"  {escape(description)}", completed=completed, total=total)

    def _cell_finished(self, plan: CellPlan, record: CellRecord, reused: bool) -> None:
        status = record["status"]
        score = record.get("metrics", {}).get("macro_f1") if status == "ok" else None
        detail = (
            f"macro-F1 {score:.3f}"
            if score is not None
            else (record.get("skip_reason") or (record.get("error") or {}).get("message", ""))
        )
        prefix = "reused" if reused else status
        self.console.print(  # one line per cell, cut at the terminal's width: the summary gives each reason in full
            f"[{STATUS_STYLE[status]}]{prefix:>7}[/] {escape(plan.key.label())}  {escape(detail)}",
            highlight=False,
            no_wrap=True,
            overflow="ellipsis",
        )
        if self.cells is not None:
            self.progress.advance(self.cells)
        if self.step is not None:
            self.progress.remove_task(self.step)
            self.step = None
