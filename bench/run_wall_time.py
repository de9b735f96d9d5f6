"""Cold `make run` of two revisions side by side: wall time, peak memory, load, and whether the tables agree.

For each revision (``--before``, ``--after``, default HEAD: committed code, not
the working tree) the script makes a fresh clone in a scratch folder and a light
venv for it that reuses this interpreter's installed packages (a ``.pth`` file
onto this environment's site folders) with only the clone installed editable on
top, so ``asebench`` runs the clone's code and nothing is installed into this
environment. The command is the clone's own ``make run`` recipe with ``$(VENV)``
set to that light venv, run in the clone with an empty ``ASEBENCH_CACHE_DIR``,
``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1`` and no ``OMP_NUM_THREADS``.

Runs, one after the other: after cold, before cold, after warm (the same cache,
a new run directory: a revision with the cell cache takes every finished cell
from it, an older one computes every cell again from cached data and
features), before warm with ``--warm-before``, and with ``--warm-recompute`` an
after warm run with ``--no-cell-cache`` (every cell computed again; reported,
not checked). Each run reports its wall time,
``run.json``'s wall_s and cell counts, the peak RSS of the largest single
process and of the whole process tree, the tree's peak PSS (its shared pages
counted once, where the RSS sum counts them per process; reported, not
checked), and the 1-min load average (sampled
every 5 s). Then ``asebench compare`` (the after side's) of the two cold runs.
Without ``--before`` only the after side runs (cold and warm).

    .venv/bin/python bench/run_wall_time.py --before main --after HEAD --out wall.json
    .venv/bin/python bench/run_wall_time.py --before HEAD~3 --methods majority   # smoke test

Prints a JSON summary, a markdown table and PASS/FAIL lines (ratio after/before
cold <= 0.5, after cold <= 12 min, after warm <= 4 min, peak RSS <= 4 GiB, no
compare difference, every run exits 0); exits 1 when a check fails.
``--methods``/``--extra`` change the command (for smoke tests); the summary says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

GIB = 1024**3
PAGE = os.sysconf("SC_PAGE_SIZE")
MAX_RATIO, MAX_COLD_S, MAX_WARM_S, MAX_RSS = 0.5, 12 * 60, 4 * 60, 4 * GIB
LAYER_FILE = "asebench-bench-layer.pth"
RUN_LINE = re.compile(r"asebench\S*\s+run\b")
SHADOWING = ("setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth")


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def run_recipe(makefile: Path) -> list[str]:
    """The recipe lines of the ``run:`` target, without make's ``@``/``-``/``+`` prefixes."""
    lines = makefile.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"run\s*:(?!=)", line)), None)
    if start is None:
        raise SystemExit(f"{makefile} has no run: target")
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            if line.strip() and not line.lstrip().startswith("#"):
                break
            continue
        recipe.append(line.strip().lstrip("@-+").strip())
    if not recipe:
        raise SystemExit(f"the run: target of {makefile} has no recipe")
    return recipe


def set_option(tokens: list[str], names: tuple[str, ...], value: str) -> None:
    """Replace the value of an option the recipe already passes (``--x v`` or ``--x=v``), else append it."""
    for i, token in enumerate(tokens):
        if token in names and i + 1 < len(tokens):
            tokens[i + 1] = value
            return
        if "=" in token and token.split("=", 1)[0] in names:
            tokens[i] = f"{names[0]}={value}"
            return
    tokens += [names[0], value]


def shell_command(recipe: list[str], venv: Path, options: dict[tuple[str, ...], str], extra: list[str]) -> str:
    """The recipe with the light venv for ``$(VENV)``; options and extra arguments go on its ``asebench run`` line."""
    lines = []
    for line in recipe:
        for name, value in (("VENV", str(venv)), ("PY", str(venv / "bin" / "python"))):
            line = line.replace(f"$({name})", value).replace(f"${{{name}}}", value)
        if re.search(r"\$[({]", line):
            raise SystemExit(f"make variable left in the run recipe after substitution: {line}")
        tokens = shlex.split(line)
        if RUN_LINE.search(line):
            at = tokens.index("run") + 1  # options of `asebench run`, not of a `python -m` before it
            head, tail = tokens[:at], tokens[at:]
            for names, value in options.items():
                set_option(tail, names, value)
            tokens = head + tail + extra
        lines.append(shlex.join(tokens))
    if not any(RUN_LINE.search(line) for line in recipe):
        raise SystemExit(f"no `asebench run` line in the run recipe: {recipe}")
    return " && ".join(lines)


def run_dir_of(command: str) -> str:
    tokens = shlex.split(command.replace("&&", " "))
    for i, token in enumerate(tokens):
        if token == "--run-dir" and i + 1 < len(tokens):
            return tokens[i + 1]
        if token.startswith("--run-dir="):
            return token.split("=", 1)[1]
    return "runs/default"


def layered_site_dirs() -> list[str]:
    """This interpreter's site folders: its purelib and the folders its ``.pth`` files put after it."""
    purelib = os.path.realpath(sysconfig.get_paths()["purelib"])
    real = [os.path.realpath(path) for path in sys.path]
    start = real.index(purelib) if purelib in real else len(real)
    dirs = [purelib, *real[start + 1 :]]
    return [path for i, path in enumerate(dirs) if os.path.isdir(path) and path not in dirs[:i]]


def light_venv(clone: Path, venv: Path) -> None:
    """A venv that sees this environment's packages and has only ``clone`` installed (editable) of its own."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    own = Path(subprocess.check_output([python, "-c", code], text=True).strip())
    for name in SHADOWING:  # --without-pip installs none of these; a venv that has them would hide the layered ones
        for path in own.glob(f"{name}*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (own / LAYER_FILE).write_text("".join(f"{path}\n" for path in layered_site_dirs()))
    install = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(clone)]
    subprocess.run(install, check=True, cwd=clone, stdout=subprocess.DEVNULL)
    probe = [python, "-c", "import asebench.run.config as c; print(c.__file__)"]
    where = Path(subprocess.check_output(probe, cwd=clone, text=True).strip()).resolve()
    if not where.is_relative_to(clone.resolve()) or not (venv / "bin" / "asebench").exists():
        raise SystemExit(f"the light venv {venv} imports asebench from {where}, not from the clone {clone}")


def process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages split between the processes that map them (a tree's sum counts them once)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def load_1min() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class Monitor(threading.Thread):
    """Samples the child's process tree RSS every 0.5 s, its PSS every 2 s, the load every 5 s; progress every 30 s.

    The tree's RSS sum counts the libraries its processes share (torch, ONNX
    Runtime) once per process; its PSS sum counts every page once.
    """

    def __init__(self, pid: int, cells: Path, label: str) -> None:
        super().__init__(daemon=True)
        self.pid, self.cells, self.label = pid, cells, label
        self.stop, self.tree_peak, self.process_peak, self.tree_pss_peak = threading.Event(), 0, 0, 0
        self.loads = [load_1min()]

    def run(self) -> None:
        start, tick = time.perf_counter(), 0
        while not self.stop.wait(0.5):
            tick += 1
            tree = process_tree(self.pid)
            sizes = [rss_bytes(pid) for pid in tree]
            self.tree_peak = max(self.tree_peak, sum(sizes))
            self.process_peak = max(self.process_peak, *sizes, 0)
            if tick % 4 == 0:
                self.tree_pss_peak = max(self.tree_pss_peak, sum(pss_bytes(pid) for pid in tree))
            if tick % 10 == 0:
                self.loads.append(load_1min())
            if tick % 60 == 0:
                done = len(list(self.cells.glob("*.json"))) if self.cells.is_dir() else 0
                elapsed = time.perf_counter() - start
                line = f"[{self.label}] {elapsed / 60:.1f} min, {done} cell(s) written, load {self.loads[-1]:.2f}"
                print(line, file=sys.stderr, flush=True)


def timed_run(label: str, command: str, clone: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """One run of ``command`` in ``clone``: wall time, exit status, peaks, load and ``run.json`` facts."""
    run_dir = clone / run_dir_of(command)
    print(f"[{label}] {command}  (log: {log})", file=sys.stderr, flush=True)
    with log.open("w") as out:
        start = time.perf_counter()
        child = subprocess.Popen(["/bin/sh", "-c", command], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT)
        monitor = Monitor(child.pid, run_dir / "cells", label)
        monitor.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        monitor.stop.set()
        monitor.join()
    facts = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    cells = facts.get("cells", {})
    result = {
        "wall_s": round(wall, 1),
        "exit_code": child.returncode,
        "run_dir": str(run_dir),
        "run_json_wall_s": facts.get("wall_s"),
        "cells": {key: cells.get(key) for key in ("ok", "skipped", "failed", "total")},
        "peak_rss_process_gib": round(max(usage.ru_maxrss * 1024, monitor.process_peak) / GIB, 3),
        "peak_rss_tree_gib": round(monitor.tree_peak / GIB, 3),
        "peak_pss_tree_gib": round(monitor.tree_pss_peak / GIB, 3),
        "load_1min_mean": round(sum(monitor.loads) / len(monitor.loads), 2),
        "load_1min_max": max(monitor.loads),
    }
    print(f"[{label}] {result['wall_s']} s, exit {child.returncode}", file=sys.stderr, flush=True)
    if child.returncode != 0:
        print(f"[{label}] last lines of the log:\n" + "\n".join(log.read_text().splitlines()[-15:]), file=sys.stderr)
    return result


def compare(asebench: Path, first: str, second: str, tolerance: float | None, cwd: Path) -> dict[str, Any]:
    tolerance_option = ["--tolerance", str(tolerance)] if tolerance is not None else []
    command = [str(asebench), "compare", first, second, *tolerance_option]
    env = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    lines = (done.stdout + done.stderr).strip().splitlines()
    counts = re.search(r"(\d+) matched cell\(s\), (\d+) only in A, (\d+) only in B, (\d+) difference\(s\)", done.stdout)
    names = ("matched", "only_in_before", "only_in_after", "differences")
    numbers = dict(zip(names, map(int, counts.groups()), strict=True)) if counts else {}
    return {"command": shlex.join(command), "exit_code": done.returncode, **numbers, "last_lines": lines[-8:]}


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return {"cpu_count": os.cpu_count(), "cpu_model": model.group(1) if model else "unknown"}


def minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.0f} s ({seconds / 60:.1f} min)"


def markdown(summary: dict[str, Any]) -> str:
    rows = [
        "| side | rev | wall | run.json wall_s | cells ok/skipped/failed | peak RSS process / tree | peak PSS tree "
        "| load mean/max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for side in summary["sides"].values():
        for kind, run in side["runs"].items():
            cells = run["cells"]
            rows.append(
                f"| {side['label']} {kind} | {side['sha'][:7]} | {minutes(run['wall_s'])} | {run['run_json_wall_s']} | "
                f"{cells['ok']}/{cells['skipped']}/{cells['failed']} | "
                f"{run['peak_rss_process_gib']:.2f} / {run['peak_rss_tree_gib']:.2f} GiB | "
                f"{run['peak_pss_tree_gib']:.2f} GiB | "
                f"{run['load_1min_mean']:.2f} / {run['load_1min_max']:.2f} |"
            )
    rows.append(f"\nmachine: {summary['machine']['cpu_count']} CPUs, {summary['machine']['cpu_model']}")
    for side in summary["sides"].values():
        rows += [f"command ({side['label']} {kind}): `{command}`" for kind, command in side.get("commands", {}).items()]
    if summary["command_changed"]:
        rows.append(f"NOTE: not `make run` as it ships: {shlex.join(summary['command_changes'])} set")
    if summary.get("ratio") is not None:
        rows.append(f"ratio after/before (cold wall): **{summary['ratio']:.3f}**")
    rows += [
        f"{'PASS' if check['pass'] else 'FAIL'}: {check['name']} ({check['value']})" for check in summary["checks"]
    ]
    return "\n".join(rows)


def checks(summary: dict[str, Any]) -> list[dict[str, Any]]:
    sides = summary["sides"]
    after, runs = sides["after"]["runs"], [run for side in sides.values() for run in side["runs"].values()]
    found = []
    if summary["ratio"] is not None:
        found.append(("ratio after/before <= 0.5", f"{summary['ratio']:.3f}", summary["ratio"] <= MAX_RATIO))
    found.append(("after cold <= 12 min", minutes(after["cold"]["wall_s"]), after["cold"]["wall_s"] <= MAX_COLD_S))
    found.append(("after warm <= 4 min", minutes(after["warm"]["wall_s"]), after["warm"]["wall_s"] <= MAX_WARM_S))
    peak = max(max(run["peak_rss_process_gib"], run["peak_rss_tree_gib"]) for run in runs)
    found.append(
        ("peak RSS <= 4 GiB (largest of process and tree, all runs)", f"{peak:.2f} GiB", peak * GIB <= MAX_RSS)
    )
    if summary["compare"] is not None:
        result = summary["compare"]
        tolerance = summary["tolerance"]
        name = "compare: no difference" + (f" beyond tolerance {tolerance}" if tolerance is not None else "")
        value = f"{result.get('differences')} difference(s), {result.get('only_in_before')}+{result.get('only_in_after')} unmatched, exit {result['exit_code']}"
        found.append((name, value, result["exit_code"] == 0))
    codes = [run["exit_code"] for run in runs]
    found.append(("every run exits 0", f"exit codes {codes}", all(code == 0 for code in codes)))
    return [{"name": name, "value": value, "pass": ok} for name, value, ok in found]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="revision of the reference side (e.g. main); omitted: only --after runs")
    parser.add_argument("--after", default="HEAD", help="revision of the measured side (default HEAD)")
    parser.add_argument("--warm-before", action="store_true", help="also time a warm rerun of the before side")
    parser.add_argument(
        "--warm-recompute", action="store_true", help="also time a warm after run with --no-cell-cache (not checked)"
    )
    parser.add_argument("--methods", help="smoke tests only: append --methods X to the asebench run line")
    parser.add_argument("--extra", default="", help="smoke tests only: more asebench run arguments (one string)")
    parser.add_argument("--tolerance", type=float, help="passed to asebench compare")
    parser.add_argument("--scratch", type=Path, help="new folder for clones, venvs, caches, runs (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary scratch folder")
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    root = Path(git("rev-parse", "--show-toplevel", cwd=Path.cwd()))
    if git("status", "--porcelain", "--untracked-files=no", cwd=root):
        print("note: uncommitted changes are not measured (each side is a clone of a commit)", file=sys.stderr)
    methods: dict[tuple[str, ...], str] = {("--methods", "-m"): args.methods} if args.methods else {}
    extra = shlex.split(args.extra)
    changes = [*(["--methods", args.methods] if args.methods else []), *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    omp = env.pop("OMP_NUM_THREADS", None)
    if omp is not None:
        print(f"note: OMP_NUM_THREADS={omp} dropped from the runs' environment", file=sys.stderr)
    env.pop("ASEBENCH_CACHE_DIR", None)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="asebench-wall-"))
    scratch.mkdir(parents=True, exist_ok=True)
    labels = {"before": args.before, "after": args.after} if args.before else {"after": args.after}
    summary: dict[str, Any] = {
        "machine": machine(),
        "environment": {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": f"dropped ({omp})" if omp else "unset",
        },
        "command_changed": bool(changes),
        "command_changes": changes,
        "layered_site_dirs": layered_site_dirs(),
        "scratch": str(scratch),
        "tolerance": args.tolerance,
        "sides": {},
    }
    try:
        for label, rev in labels.items():
            sha = git("rev-parse", "--verify", f"{rev}^{{commit}}", cwd=root)
            clone, venv = scratch / label, scratch / f"{label}-venv"
            print(f"[{label}] clone {rev} ({sha[:7]}) and its light venv", file=sys.stderr, flush=True)
            subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(root), str(clone)], check=True)
            if subprocess.run(["git", "checkout", "--quiet", "--detach", sha], cwd=clone).returncode != 0:
                git("fetch", "--quiet", str(root), sha, cwd=clone)
                git("checkout", "--quiet", "--detach", sha, cwd=clone)
            light_venv(clone, venv)
            recipe = run_recipe(clone / "Makefile")
            summary["sides"][label] = {"label": label, "rev": rev, "sha": sha, "recipe": recipe, "runs": {}}
        # the measured side first: a run that fails shows before the half-hour reference
        order = [("after", "cold"), ("before", "cold"), ("after", "warm")] + [("before", "warm")] * args.warm_before
        order += [("after", "warm-recompute")] * args.warm_recompute
        for label, kind in order:
            if label not in labels:
                continue
            side, clone = summary["sides"][label], scratch / label
            run_dir: dict[tuple[str, ...], str] = {("--run-dir",): f"runs/{kind}"} if kind != "cold" else {}
            recompute = ["--no-cell-cache"] if kind == "warm-recompute" else []
            command = shell_command(
                side["recipe"], scratch / f"{label}-venv", {**methods, **run_dir}, extra + recompute
            )
            side.setdefault("commands", {})[kind] = command
            run_env = {**env, "ASEBENCH_CACHE_DIR": str(scratch / f"{label}-cache")}
            side["runs"][kind] = timed_run(f"{label} {kind}", command, clone, run_env, scratch / f"{label}-{kind}.log")
        sides = summary["sides"]
        summary["ratio"], summary["compare"] = None, None
        if args.before:
            before, after = sides["before"]["runs"]["cold"], sides["after"]["runs"]["cold"]
            summary["ratio"] = round(after["wall_s"] / before["wall_s"], 3)
            asebench = scratch / "after-venv" / "bin" / "asebench"
            summary["compare"] = compare(
                asebench, before["run_dir"], after["run_dir"], args.tolerance, scratch / "after"
            )
        summary["checks"] = checks(summary)
    finally:
        if args.scratch is None and not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    print("\n" + markdown(summary))
    return 0 if all(check["pass"] for check in summary["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
