"""Wall time and peak memory of `asebench run`, cold and with warm caches.

Cold: an empty cache directory (ase-synth is generated, every backbone runs)
and an empty run directory. Warm: the same cache directory (generated data and
frozen features reused) and a fresh run directory, so every cell is computed
again but no backbone runs for cached features. Both runs happen in this one
invocation, one after the other, as child processes; peak memory is the
children's maximum resident set size.

    .venv/bin/python bench/run_wall_time.py --methods all
    .venv/bin/python bench/run_wall_time.py --methods 'tf_efficientnet_lite0-probe' --datasets neu-det
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(args: list[str], cache: Path, run_dir: Path) -> dict[str, float]:
    env = {**os.environ, "ASEBENCH_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    command = [str(Path(sys.executable).with_name("asebench")), "run", *args, "--run-dir", str(run_dir)]
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode not in (0, 1):
        raise SystemExit(f"asebench run failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return {"wall_s": round(elapsed, 1), "exit_code": completed.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="all")
    parser.add_argument("--datasets", default="ase-synth")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `asebench run` arguments")
    args = parser.parse_args()
    run_args = ["--methods", args.methods, "--datasets", args.datasets, *args.extra]
    with tempfile.TemporaryDirectory(prefix="asebench-bench-") as scratch:
        root = Path(scratch)
        cold = timed_run(run_args, root / "cache", root / "run-cold")
        warm = timed_run(run_args, root / "cache", root / "run-warm")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "command": "asebench run " + " ".join(run_args),
                "cold": cold,
                "warm": warm,
                "warm_over_cold": round(warm["wall_s"] / cold["wall_s"], 3),
                "peak_rss_mib": round(peak_kib / 1024, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
