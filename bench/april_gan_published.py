"""Reproduce APRIL-GAN's published zero-shot MVTec AD row with the ``april-gan`` plugin and the released adapter.

Published (Chen, Han, Zhang 2023, adapter trained on VisA, scored on MVTec AD;
15-category means, %): I-AUROC 86.1, I-F1 90.4, I-AP 93.5, P-AUROC 87.6,
P-F1 43.3, P-AP 40.8, PRO 44.0. An independent re-run of the released
checkpoint matched them to the first decimal.

It needs three things this machine does not have (nothing is downloaded):

* ``--clip-weights`` / ``APRIL_GAN_CLIP_WEIGHTS``: OpenAI's ViT-L-14-336 as an
  open_clip *state dict* (``open_clip_model.safetensors`` or
  ``open_clip_pytorch_model.bin`` of the Hugging Face repo
  ``timm/vit_large_patch14_clip_336.openai``; OpenAI's own ``ViT-L-14-336px.pt``
  is a TorchScript archive, which is never loaded);
* ``--adapter`` / ``APRIL_GAN_ADAPTER``: the released ``visa_pretrained.pth``
  (``exps/pretrained/`` of github.com/ByChelsea/VAND-APRIL-GAN), or its
  ``.safetensors`` conversion; a ``.pth`` is converted first, read with
  ``torch.load(weights_only=True)``;
* ``--mvtec`` / ``MVTEC_ROOT``: MVTec AD (www.mvtec.com/company/research/datasets/mvtec-ad).

Then it runs ``april-gan`` under the ``official`` protocol (the adapter is
given, so nothing is trained; ViT-L-14-336-quickgelu at 518 px, stages
6/12/18/24) and prints our 15-category means beside the published row.
Differences to expect: PRO here is integrated to 30 % FPR over exact
thresholds (APRIL-GAN samples 200), masks are resized by nearest neighbour
(APRIL-GAN: bilinear then > 0.5).

    python bench/april_gan_published.py --mvtec /data/mvtec --clip-weights vit-l-14-336.safetensors
        --adapter visa_pretrained.pth [--device cuda]      (one command line)
    python bench/april_gan_published.py --convert visa_pretrained.pth visa_pretrained.safetensors
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

PUBLISHED = {
    "image_auroc": 86.1,
    "image_f1_max": 90.4,
    "image_ap": 93.5,
    "pixel_auroc": 87.6,
    "pixel_f1_max": 43.3,
    "pixel_ap": 40.8,
    "pixel_pro": 44.0,
}
MVTEC_CATEGORIES = 15


def missing_inputs(mvtec: str | None, clip_weights: str | None, adapter: str | None) -> list[str]:
    """What is absent, one line each with where to get it."""
    needs = []
    if not clip_weights or not Path(clip_weights).expanduser().is_file():
        needs.append(
            f"CLIP weights (--clip-weights or APRIL_GAN_CLIP_WEIGHTS; given: {clip_weights or 'nothing'}): OpenAI "
            "ViT-L-14-336 as an open_clip state dict, e.g. open_clip_model.safetensors from the Hugging Face repo "
            "timm/vit_large_patch14_clip_336.openai"
        )
    if not adapter or not Path(adapter).expanduser().is_file():
        needs.append(
            f"APRIL-GAN adapter (--adapter or APRIL_GAN_ADAPTER; given: {adapter or 'nothing'}): the released "
            "exps/pretrained/visa_pretrained.pth of github.com/ByChelsea/VAND-APRIL-GAN (or its .safetensors)"
        )
    if not mvtec or not Path(mvtec).expanduser().is_dir():
        needs.append(
            f"MVTec AD (--mvtec or MVTEC_ROOT; given: {mvtec or 'nothing'}): the extracted dataset root "
            "(bottle/, cable/, ...), from www.mvtec.com/company/research/datasets/mvtec-ad"
        )
    return needs


def safetensors_adapter(adapter: Path, work: Path) -> Path:
    if adapter.suffix == ".safetensors":
        return adapter
    from asebench.methods._aprilgan.artifact import convert_checkpoint

    target = work / f"{adapter.stem}.safetensors"
    sha = convert_checkpoint(adapter, target)
    print(f"converted {adapter} -> {target} (sha256 {sha}, read with torch.load(weights_only=True))")
    return target


def run(mvtec: Path, clip_weights: Path, adapter: Path, device: str, work: Path) -> int:
    from asebench.cli.run_command import run_and_summarise
    from asebench.run.config import RunConfig

    options = {"weights": str(clip_weights), "adapter": str(safetensors_adapter(adapter, work)), "image_size": 518}
    outcome = run_and_summarise(
        RunConfig(
            methods=["april-gan"],
            datasets=[f"mvtec:{mvtec}"],
            split={"protocol": "official"},
            device=device,
            run_dir=work / "run",
            bootstrap={"samples": 0},
            method_options={"april-gan": options},
        )
    )[0]
    ok = [r for r in outcome.records if r["status"] == "ok"]
    if len(ok) != MVTEC_CATEGORIES:
        for record in outcome.records:
            if record["status"] != "ok":
                print(
                    record["split"].get("category"), record["status"], record.get("skip_reason") or record.get("error")
                )
        print(f"april-gan ran on {len(ok)} of {MVTEC_CATEGORIES} MVTec AD categories", file=sys.stderr)
        return 1
    print(f"{'metric':<14}{'ours':>8}{'published':>11}{'diff':>8}")
    for key, published in PUBLISHED.items():
        ours = 100 * sum(float(r["anomaly_metrics"][key]) for r in ok) / len(ok)
        print(f"{key:<14}{ours:>8.1f}{published:>11.1f}{ours - published:>+8.1f}")
    print(f"records: {work / 'run'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mvtec", default=os.environ.get("MVTEC_ROOT"))
    parser.add_argument("--clip-weights", default=os.environ.get("APRIL_GAN_CLIP_WEIGHTS"))
    parser.add_argument("--adapter", default=os.environ.get("APRIL_GAN_ADAPTER"))
    parser.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="where the run directory goes (default: a temp dir)"
    )
    parser.add_argument("--convert", nargs=2, metavar=("PTH", "SAFETENSORS"), help="only convert a released checkpoint")
    args = parser.parse_args(argv)
    if args.convert:
        from asebench.methods._aprilgan.artifact import convert_checkpoint

        print(convert_checkpoint(Path(args.convert[0]), Path(args.convert[1])))
        return 0
    needs = missing_inputs(args.mvtec, args.clip_weights, args.adapter)
    if needs:
        print("bench/april_gan_published.py reproduces APRIL-GAN's zero-shot MVTec AD row and needs:")
        for line in needs:
            print(f"  - {line}")
        print(f"cannot run: {len(needs)} input(s) missing (nothing is downloaded)", file=sys.stderr)
        return 2
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="april-gan-published-"))
    return run(
        Path(args.mvtec).expanduser(),
        Path(args.clip_weights).expanduser(),
        Path(args.adapter).expanduser(),
        args.device,
        work,
    )


if __name__ == "__main__":
    sys.exit(main())
