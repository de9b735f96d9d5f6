"""The README's generated blocks: the quick-start table and how it was measured, from one run directory.

The README holds them between marker comments (``<!-- asebench:<block>:begin -->``
... ``<!-- asebench:<block>:end -->``); ``asebench tables --readme`` rewrites the
text between the markers and ``--check`` proves it still follows from the
committed run ``results/quickstart``. Everything here is a pure function of
the run directory's files (records, ``environment.json``, ``run.json``): no
clock, no paths, so the same run gives the same README on any machine.

The table itself is drawn by the command line (it is what ``asebench run``
prints); this module frames it and writes the measured block beside it.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from asebench.api.errors import ResultsError
from asebench.api.records import CellRecord
from asebench.store.run_directory import RUN_FILE, RunDirectory

QUICKSTART_NAME = "quickstart"
TABLE_BLOCK = "quickstart-table"
MEASURED_BLOCK = "quickstart-measured"
STATUSES = ("ok", "skipped", "failed")


def marker(block: str, edge: str) -> str:
    """The comment that opens (``edge="begin"``) or closes (``"end"``) a generated block."""
    return f"<!-- asebench:{block}:{edge} -->"


def default_readme() -> Path:
    """``./README.md`` when it exists, else the source checkout's."""
    local = Path("README.md")
    return local if local.is_file() else Path(__file__).resolve().parents[3] / "README.md"


def readme_blocks(run_dir: Path, records: Sequence[CellRecord], table_text: str) -> dict[str, str]:
    """Both blocks: the console table (``table_text``) in a text fence, and the measured block."""
    return {TABLE_BLOCK: f"```text\n{table_text}```\n", MEASURED_BLOCK: measured_block(run_dir, records)}


def measured_block(run_dir: Path, records: Sequence[CellRecord]) -> str:
    """When, on what and how long: a small Markdown table from ``run.json``, ``environment.json`` and the records."""
    directory = RunDirectory(run_dir)
    facts = directory.read_json(RUN_FILE) or {}
    environment = directory.read_json("environment.json") or _newest(records).get("environment") or {}
    statuses: Counter[str] = Counter(record["status"] for record in records)
    cells = f"{len(records)}: " + ", ".join(f"{statuses.get(s, 0)} {s}" for s in STATUSES)
    counted = facts.get("cells") or {}
    if "computed" in counted:
        cells += f" ({counted['computed']} computed, {counted.get('reused', 0)} reused)"
    if isinstance(facts.get("wall_s"), (int, float)):
        time_row = ("wall time", f"{duration(facts['wall_s'])} (`run.json`)")
    else:
        spent = sum(float((r.get("timings") or {}).get("total_s") or 0.0) for r in records)
        time_row = ("compute time", f"{duration(spent)} summed over the cells (no `run.json`: wall time not recorded)")
    finished = facts.get("finished_at") or _newest(records).get("created_at")
    rows = [
        ("finished", _utc_minute(finished) if finished else "–"),
        ("grid", grid_text((directory.read_json("config.json") or {}).get("config") or {})),
        ("machine", machine_text(environment)),
        ("threads", threads_text(environment)),
        ("cells", cells),
        time_row,
        ("software", software_text(environment)),
    ]
    lines = ["| what | value |", "|---|---|", *(f"| {name} | {_cell(value)} |" for name, value in rows)]
    return "\n".join(lines) + "\n"


def grid_text(config: Mapping[str, Any]) -> str:
    """Datasets, tasks, seeds, profile and executor of the run's config (``config.json``)."""
    parts = [
        " + ".join(config.get("datasets") or []),
        " + ".join(config.get("tasks") or []),
        f"seed{'s' if len(config['seeds']) > 1 else ''} {', '.join(map(str, config['seeds']))}"
        if config.get("seeds")
        else None,
        f"profile {config['profile']}" if config.get("profile") else None,
        f"executor {config['executor']}" if config.get("executor") else None,
    ]
    return ", ".join(part for part in parts if part) or "not recorded"


def machine_text(environment: Mapping[str, Any]) -> str:
    """CPU model (when recorded), OS, logical CPUs, device and GPU."""
    cpu = _part(environment, "cpu")
    torch = _part(environment, "torch")
    parts = [cpu.get("model"), environment.get("platform")]
    cores = cpu.get("usable_cores") or environment.get("cpu_count")
    if cores:
        parts.append(f"{cores} logical CPUs")
    if environment.get("device"):
        parts.append(f"device {environment['device']}")
    parts.append(torch.get("gpu"))
    return ", ".join(str(part) for part in parts if part) or "not recorded"


def threads_text(environment: Mapping[str, Any]) -> str:
    """The thread count and CPU kernel level of torch, and the BLAS/OpenMP pools (when recorded)."""
    torch = _part(environment, "torch")
    parts = []
    if torch.get("threads") is not None:
        capability = f" (CPU capability {torch['cpu_capability']})" if torch.get("cpu_capability") else ""
        parts.append(f"torch {torch['threads']}{capability}")
    pools = environment.get("threadpools")
    counted: Counter[str] = Counter(
        f"{pool.get('internal_api') or pool.get('user_api')} {pool['num_threads']}"
        for pool in (pools if isinstance(pools, list) else [])
        if isinstance(pool, Mapping) and pool.get("num_threads") is not None
    )  # numpy, scipy and torch each load their own copy: one entry per library and thread count
    parts += [f"{text} (x{count} libraries)" if count > 1 else text for text, count in counted.items()]
    return ", ".join(parts) or "not recorded"


def software_text(environment: Mapping[str, Any]) -> str:
    packages = _part(environment, "packages")
    torch = _part(environment, "torch")
    parts = [
        f"Python {environment['python']}" if environment.get("python") else None,
        f"torch {torch.get('torch') or packages.get('torch')}" if torch.get("torch") or packages.get("torch") else None,
        f"asebench git {str(environment['git'])[:8]}" if environment.get("git") else None,
    ]
    return ", ".join(part for part in parts if part) or "not recorded"


def duration(seconds: float) -> str:
    """``42 s``, ``26 min 24 s``, ``1 h 02 min``."""
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def replace_blocks(text: str, blocks: Mapping[str, str], where: str = "README.md") -> str:
    """``text`` with the lines between each block's markers replaced by the block."""
    for name, content in blocks.items():
        begin, end = marker(name, "begin"), marker(name, "end")
        if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
            raise ResultsError(
                f"{where} needs the markers {begin} and {end} once each, in that order, on lines of their own "
                f"around the generated {name} block"
            )
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{content}{end}{tail}"
    return text


def blocks_diff(current: str, rendered: str, where: str) -> str:
    """A unified diff from the README as it is to the README as rendered from the run."""
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            rendered.splitlines(keepends=True),
            fromfile=where,
            tofile=f"{where} (rendered from the run)",
        )
    )


def _part(environment: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested section of the environment (``cpu``, ``torch`` …), empty when absent or not a mapping."""
    value = environment.get(key)
    return value if isinstance(value, Mapping) else {}


def _newest(records: Sequence[CellRecord]) -> CellRecord | dict[str, Any]:
    """The record created last (by its time, whatever offset it was written with)."""
    return max(records, key=lambda r: _utc(r.get("created_at", "")) or datetime.min, default={})


def _utc(stamp: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo is not None else moment


def _utc_minute(stamp: str) -> str:
    moment = _utc(stamp)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else stamp


def _cell(value: str) -> str:
    return value.replace("|", "\\|")
