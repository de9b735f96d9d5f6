"""The console after a run: one line per skip reason under the table, one line per cell while it runs."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from rich.console import Console

from asebench.cli.progress import RichProgress
from asebench.cli.tables import summary_text
from asebench.report.summary import summary_rows

CLIP_REASON = (
    "needs weights: set method_options.{}.weights to a local open_clip checkpoint for ViT-B-16-plus-240; "
    "no pretrained CLIP weights exist offline and none are downloaded"
)
CLIP_METHODS = ("clip-zeroshot", "winclip", "winclip-fewshot")


def skipped(method: str, task: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "cell": {"method": method, "dataset": "ase-synth", "task": task, "seed": 0, "fold": 0, "config_hash": "h"},
        "status": "skipped",
        "error": None,
        "skip_reason": CLIP_REASON.format(method),
        "method": {"name": method, "family": "clip"},
    }


def test_summary_gives_one_line_per_skip_reason_with_the_methods_it_covers() -> None:
    records = [skipped(method, task) for method in CLIP_METHODS for task in ("binary", "multiclass")]
    text = " ".join(summary_text(summary_rows(records)).split())  # undo the wrapping of long lines
    assert text.count("skipped: needs weights") == 1
    assert "method_options.<method>.weights" in text
    assert text.endswith("-- clip-zeroshot, winclip, winclip-fewshot")
    assert "note:" not in text and "more note" not in text


def test_live_line_of_a_skipped_cell_is_one_line_however_long_its_reason() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, color_system=None, force_terminal=False)
    progress = RichProgress(console)
    plan: Any = SimpleNamespace(key=SimpleNamespace(label=lambda: "winclip | ase-synth binary | seed 0 fold 0"))
    progress._cell_finished(plan, skipped("winclip", "binary"), reused=False)  # type: ignore[arg-type]
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skipped winclip | ase-synth binary")
    assert lines[0].endswith("…")
