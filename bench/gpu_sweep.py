"""GPU check: feature-extraction throughput and a quick sweep's wall time on CUDA.

Two measurements, both on the first visible CUDA device:

1. throughput of the harness's frozen-feature extraction
   (:func:`asebench.components.extraction.extract`, the path of every probe
   and of the feature cache) in float32 and with AMP (float16 autocast),
   images/s after a warm-up batch;
2. wall time of ``asebench run`` on a small quick-profile grid with a cold
   cache, once per executor given (default ``local`` and ``process``, the
   latter one worker per GPU), plus whether every executor produced the same
   summary table.

On a machine without a CUDA GPU it prints why there is nothing to measure
and exits 0, so it can sit in any script.

    .venv/bin/python bench/gpu_sweep.py
    .venv/bin/python bench/gpu_sweep.py --methods 'tf_efficientnet_lite0-probe,protonet,resnet18' --executors local,process,ray
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def cuda_device() -> str | None:
    """Name of the first CUDA device, or None when torch or CUDA is missing."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def extraction_throughput(model: str, dataset: str, limit: int, batch_size: int, amp: bool) -> float:
    """Images/s of the harness's feature extraction on ``cuda`` (no feature cache involved)."""
    import torch

    from asebench.api.method import MethodContext
    from asebench.api.registry import DATASETS
    from asebench.components.backbones import preprocessing_for
    from asebench.components.extraction import extract
    from asebench.components.weights import resolve_weights

    source, reason = resolve_weights(model, "auto")
    if source is None:
        raise SystemExit(reason)
    samples = list(DATASETS.get(dataset)().load().samples[:limit])
    preprocessing = preprocessing_for(model, 224)
    context = MethodContext(device="cuda", amp=amp)
    extract(
        model, source, preprocessing, samples[:batch_size], batch_size, context
    )  # warm-up: cudnn autotune, allocator
    torch.cuda.synchronize()
    start = time.perf_counter()
    extract(model, source, preprocessing, samples, batch_size, context)
    torch.cuda.synchronize()
    return len(samples) / (time.perf_counter() - start)


def sweep(methods: str, seeds: str, executor: str, scratch: Path) -> dict[str, Any]:
    """Wall time of one cold-cache ``asebench run`` with ``executor``; returns it with the summary table."""
    run_dir, cache = scratch / f"run-{executor}", scratch / f"cache-{executor}"
    env = {**os.environ, "ASEBENCH_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    command = [
        str(Path(sys.executable).with_name("asebench")),
        "run",
        "--methods",
        methods,
        "--seeds",
        seeds,
        "--device",
        "cuda",
        "--executor",
        executor,
        "--run-dir",
        str(run_dir),
    ]
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode not in (0, 1):
        raise SystemExit(
            f"asebench run --executor {executor} failed ({completed.returncode}):\n{completed.stderr[-2000:]}"
        )
    summary = (run_dir / "summary.csv").read_text(encoding="utf-8")
    return {"wall_s": round(elapsed, 1), "exit_code": completed.returncode, "summary": summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--dataset", default="ase-synth")
    parser.add_argument("--limit", type=int, default=455, help="images per throughput measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--methods", default="majority,tf_efficientnet_lite0-probe,protonet,tf_efficientnet_lite0")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--executors", default="local,process", help="comma list of executors to time")
    args = parser.parse_args()

    gpu = cuda_device()
    if gpu is None:
        print(
            "gpu_sweep: no CUDA GPU visible here (torch missing or torch.cuda.is_available() is False); nothing to measure."
        )
        return 0
    import torch

    result: dict[str, Any] = {"gpu": gpu, "gpus": torch.cuda.device_count(), "torch": torch.__version__}
    for amp in (False, True):
        key = f"extract_{args.model}_{'amp' if amp else 'fp32'}_images_per_s"
        result[key] = round(extraction_throughput(args.model, args.dataset, args.limit, args.batch_size, amp), 1)
    with tempfile.TemporaryDirectory(prefix="asebench-gpu-sweep-") as scratch:
        runs = {
            name: sweep(args.methods, args.seeds, name, Path(scratch)) for name in args.executors.split(",") if name
        }
    tables = {name: run.pop("summary") for name, run in runs.items()}
    result["sweep"] = {"methods": args.methods, "seeds": args.seeds, **runs}
    result["sweep"]["same_summary_for_every_executor"] = len(set(tables.values())) == 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
