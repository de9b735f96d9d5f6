"""Per-image latency of zero-shot WinCLIP (image score + pixel map), CPU by default.

Runs exactly the code path of the ``winclip`` plugin
(:func:`asebench.methods._clip.windows.extract_features` -> full pass plus the
batched 2x2 and 3x3 window passes, then
:func:`asebench.methods._clip.winclip_core.zero_shot` and the bilinear upsampling)
on random 240 x 240 inputs through ``ViT-B-16-plus-240``. No CLIP weights exist
offline, so the model is randomly initialised: latency does not depend on the
weights, the outputs are meaningless. Text prototypes (154 + 88 prompts) are a
one-off cost per object and are timed separately.

Reported: per-image milliseconds (min and median over repeats) for each batch
size, plus the split between the full pass and the window passes.

    .venv/bin/python bench/winclip_latency.py                      # CPU, 2 threads
    .venv/bin/python bench/winclip_latency.py --batch-sizes 1 4 --repeats 3
    .venv/bin/python bench/winclip_latency.py --device cuda --threads 0
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial
from typing import Any

import torch


def timed(fn: Any, device: str) -> tuple[float, Any]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-16-plus-240")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (0: leave torch's default)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window-batch", type=int, default=1024, help="window sequences per transformer call")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from asebench.methods._clip.model import load_clip
    from asebench.methods._clip.options import ClipOptions
    from asebench.methods._clip.prompts import ANOMALOUS_STATES, NORMAL_STATES, TEMPLATES, sentences
    from asebench.methods._clip.winclip_core import upsample, zero_shot
    from asebench.methods._clip.windows import (
        check_vision_tower,
        embed_tokens,
        extract_features,
        full_pass,
        grid_size,
        window_embeddings,
        window_indices,
    )

    build_s, bundle = timed(
        lambda: load_clip(ClipOptions(model=args.model, weights="random"), args.device), args.device
    )
    visual = bundle.model.visual
    check_vision_tower(visual)
    grid = grid_size(visual)
    size = bundle.preprocessing.size
    indices = {k: window_indices(*grid, k) for k in (2, 3)}
    normal, anomalous = sentences(NORMAL_STATES, "object", TEMPLATES), sentences(ANOMALOUS_STATES, "object", TEMPLATES)
    with torch.inference_mode():
        text_s, prototypes = timed(
            lambda: torch.nn.functional.normalize(
                torch.stack(
                    [
                        torch.nn.functional.normalize(bundle.encode_text(normal), dim=-1).mean(0),
                        torch.nn.functional.normalize(bundle.encode_text(anomalous), dim=-1).mean(0),
                    ]
                ),
                dim=-1,
            ),
            args.device,
        )

    def score(images: torch.Tensor) -> torch.Tensor:
        features = extract_features(visual, images, indices, args.window_batch)
        _, grid_map = zero_shot(features, prototypes, 0.01, indices)
        return upsample(grid_map, grid, size)

    def window_passes(tokens: torch.Tensor) -> list[torch.Tensor]:
        return [window_embeddings(visual, tokens, idx, args.window_batch) for idx in indices.values()]

    results: dict[str, Any] = {
        "model": args.model,
        "weights": "random init (latency only; outputs meaningless)",
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "input": f"{size}x{size}",
        "grid": list(grid),
        "windows_per_image": {str(k): int(v.shape[0]) for k, v in indices.items()},
        "model_build_s": round(build_s, 2),
        "text_prototypes_s": round(text_s, 2),
        "text_prompts": len(normal) + len(anomalous),
        "per_image_ms": {},
    }
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        score(torch.randn(1, 3, size, size, generator=generator).to(args.device))  # warm-up
        for batch in args.batch_sizes:
            images = torch.randn(batch, 3, size, size, generator=generator).to(args.device)
            totals, fulls, windows = [], [], []
            for _ in range(args.repeats):
                total, maps = timed(partial(score, images), args.device)
                assert maps.shape == (batch, size, size)
                tokens = embed_tokens(visual, images)
                full, _ = timed(partial(full_pass, visual, tokens), args.device)
                win, _ = timed(partial(window_passes, tokens), args.device)
                totals.append(total / batch)
                fulls.append(full / batch)
                windows.append(win / batch)
            results["per_image_ms"][str(batch)] = {
                "total_min": round(1000 * min(totals), 1),
                "total_median": round(1000 * statistics.median(totals), 1),
                "full_pass_median": round(1000 * statistics.median(fulls), 1),
                "window_passes_median": round(1000 * statistics.median(windows), 1),
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
