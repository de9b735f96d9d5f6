"""Feature-extraction throughput: the harness against a bare timm loop.

Both paths decode the same image files, resize/normalise them and run the same
timm model (num_classes=0) with the same batch size and thread count, in this
one process, alternating A/B/A/B so drift hits both equally. The harness path
is :func:`asebench.components.extraction.extract` (the one the probes and
the feature cache use). Reported: images/s of each and the ratio
harness / bare (goal >= 0.95).

Run by hand, not in CI:

    .venv/bin/python bench/feature_throughput.py --dataset neu-det --limit 256
    .venv/bin/python bench/feature_throughput.py --device cuda --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def bare_loop(
    model_name: str, weights_path: str | None, samples: list, size: int, batch_size: int, device: str
) -> float:
    """What a user would write with timm alone; returns images/second."""
    import timm
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    model = timm.create_model(model_name, pretrained=False, num_classes=0).eval().to(device)
    if weights_path:  # same weights as the harness, so both run the same numbers
        from asebench.components.backbones import create_timm_model
        from asebench.components.weights import resolve_weights

        source, _ = resolve_weights(model_name, "auto")
        model = create_timm_model(model_name, source, 0, size).eval().to(device)
    config = resolve_data_config({"input_size": (3, size, size), "crop_pct": 1.0}, model=model)
    transform = create_transform(**config)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(samples), batch_size):
            batch = torch.stack([transform(Image.open(s.image).convert("RGB")) for s in samples[i : i + batch_size]])
            model(batch.to(device))
    return len(samples) / (time.perf_counter() - start)


def harness_loop(model_name: str, samples: list, size: int, batch_size: int, device: str) -> float:
    from asebench.api.method import MethodContext
    from asebench.components.backbones import preprocessing_for
    from asebench.components.extraction import extract
    from asebench.components.weights import resolve_weights

    source, reason = resolve_weights(model_name, "auto")
    if source is None:
        raise SystemExit(reason)
    context = MethodContext(device=device, amp=device.startswith("cuda"))
    start = time.perf_counter()
    extract(model_name, source, preprocessing_for(model_name, size), samples, batch_size, context)
    return len(samples) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--dataset", default="ase-synth")
    parser.add_argument("--limit", type=int, default=128, help="images per measurement")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from asebench.api.registry import DATASETS

    adapter = DATASETS.get(args.dataset)()
    samples = list(adapter.load().samples[: args.limit])
    bare, harness = [], []
    harness_loop(args.model, samples[: args.batch_size], args.size, args.batch_size, args.device)  # warm-up
    for _ in range(args.repeats):
        bare.append(bare_loop(args.model, "auto", samples, args.size, args.batch_size, args.device))
        harness.append(harness_loop(args.model, samples, args.size, args.batch_size, args.device))
    result = {
        "model": args.model,
        "dataset": args.dataset,
        "images": len(samples),
        "size": args.size,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "device": args.device,
        "bare_images_per_s": round(statistics.median(bare), 2),
        "harness_images_per_s": round(statistics.median(harness), 2),
        "ratio_harness_over_bare": round(statistics.median(harness) / statistics.median(bare), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
