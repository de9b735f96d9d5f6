"""The runner's per-image latency against a bare timm forward loop of the same model, batch and threads.

One process, side by side: first ``asebench run`` (in-process, as the CLI
does) of the fine-tuned ``tf_efficientnet_lite0`` and ``resnet18-scratch``
on ``ase-synth`` (binary task, one epoch: training length does not change a
forward pass), which records each cell's ``efficiency`` block; then, per
method, what a user would write with timm alone: ``timm.create_model`` at the
cell's image size, the same test images decoded and resized/normalised with
the same torchvision v2 steps (ToImage, antialiased Resize, ToDtype,
Normalize: the older PIL path of ``transforms.ToTensor`` is 20-30 % slower on
its own and would measure the preprocessing library, not the runner),
``torch.inference_mode()``, the cell's batch sizes (1 and b) and
torch thread count, one warm-up then the median over repeats. Both sides
time decode + preprocessing + forward per image. Goal: the runner within 10 %
of the bare loop at batch 1 and at batch b.

Run by hand, not in CI (a few minutes on a 2-core CPU):

    .venv/bin/python bench/latency_vs_timm.py
    .venv/bin/python bench/latency_vs_timm.py --device cuda --run-dir runs/bench-latency
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

METHODS = ("tf_efficientnet_lite0", "resnet18-scratch")
TOLERANCE = 0.10


def run_cells(run_dir: Path, device: str, epochs: int) -> tuple[dict[str, dict[str, Any]], Any]:
    """Run the two methods through the runner: their binary-task records by method name, and the dataset."""
    from asebench.cli.run_command import run_and_summarise
    from asebench.run.config import build_config
    from asebench.run.grid import plan_datasets
    from asebench.run.jobs import load_dataset
    from asebench.store.run_directory import load_record

    config = build_config(
        {
            "methods": list(METHODS),
            "datasets": ["ase-synth"],
            "tasks": ["binary"],
            "device": device,
            "run_dir": run_dir,
            "rerun": True,
            "bootstrap": {"samples": 0},
            "method_options": {name: {"epochs": epochs} for name in METHODS},
        }
    )
    run_and_summarise(config)
    records = [load_record(path) for path in sorted((run_dir / "cells").glob("*.json"))]
    out = {r["cell"]["method"]: r for r in records if r["cell"]["method"] in METHODS}
    for name, record in out.items():
        if record["status"] != "ok":
            raise SystemExit(f"{name}: {record['status']}: {record.get('skip_reason') or record.get('error')}")
    return out, load_dataset(plan_datasets(config)[0])


def bare_latency(record: dict[str, Any], dataset: Any, batch: int, repeats: int) -> float:
    """Median ms per image of decode + preprocess + forward with timm alone, on the record's first test images."""
    import timm
    from PIL import Image
    from torchvision.transforms import v2 as transforms

    by_id = {s.id: s for s in dataset.samples}
    samples = [by_id[i] for i in record["predictions"]["ids"][:batch]]
    pre = record["method"]["provenance"]["preprocessing"]
    model_name = record["method"]["options"]["model"]
    classes = len(record["dataset"]["class_names"])
    device = record["efficiency"]["device"]
    model = timm.create_model(model_name, pretrained=False, num_classes=classes).eval().to(device)
    size = int(pre["size"])
    bicubic = pre.get("interpolation") == "bicubic"
    mode = transforms.InterpolationMode.BICUBIC if bicubic else transforms.InterpolationMode.BILINEAR
    transform = transforms.Compose(  # the whole image resized to a square, as the runner's methods do (no crop)
        [
            transforms.ToImage(),
            transforms.Resize((size, size), mode, antialias=True),
            transforms.ToDtype(torch.float32, scale=True),
            transforms.Normalize(pre["mean"], pre["std"]),
        ]
    )

    def once() -> float:
        tick = time.perf_counter()
        with torch.inference_mode():
            images = torch.stack([transform(Image.open(s.image).convert("RGB")) for s in samples])
            torch.softmax(model(images.to(device)), dim=1).cpu()
        return time.perf_counter() - tick

    once()
    return statistics.median(once() for _ in range(repeats)) * 1000.0 / len(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/bench-latency"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    records, dataset = run_cells(args.run_dir, args.device, args.epochs)
    print(f"{'method':24} {'batch':>5} {'runner ms/img':>14} {'bare timm ms/img':>17} {'ratio':>6}  within 10 %")
    failures = 0
    for name in METHODS:
        block = records[name]["efficiency"]
        torch.set_num_threads(int(block["torch_threads"]))
        for key in ("batch_1", "batch"):
            runner = block["latency"][key]
            bare = bare_latency(records[name], dataset, runner["batch"], args.repeats)
            ratio = runner["median_ms"] / bare
            ok = abs(ratio - 1.0) <= TOLERANCE
            failures += not ok
            print(
                f"{name:24} {runner['batch']:>5} {runner['median_ms']:>14.3f} {bare:>17.3f} {ratio:>6.3f}  {'yes' if ok else 'NO'}"
            )
    print(f"device {records[METHODS[0]]['efficiency']['device']}, torch threads {torch.get_num_threads()}")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
