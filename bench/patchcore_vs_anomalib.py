"""Our ``patchcore`` against anomalib 2.7.0's PatchCore, side by side on the same anomaly-synth images.

Both sides get the same images (one anomaly-synth category generated through
our adapter), the same backbone and weights (the offline ImageNet
``tf_efficientnet_lite0`` that our harness resolves, handed to anomalib's timm
feature extractor as a state dict, ``pre_trained=False``: nothing is
downloaded), the same stages, pre-processing (whole-image resize, bicubic,
the model's own mean/std, no crop), coreset ratio, neighbour count, seed,
batch size and torch thread count. anomalib runs in its own venv
(``bench/.venvs/anomalib``, git-ignored, built on first use: ``python -m
venv`` + a ``.pth`` that layers it on this interpreter's site-packages, then
``pip install anomalib==2.7.0`` with torch, torchvision, timm and numpy pinned
to the installed versions; it fails loudly if torch would change) as a
subprocess of this script; ours runs here through the plugin
(:class:`asebench.methods.patchcore.PatchCore`, fresh feature cache, so its
fit includes feature extraction).

Printed (and written as JSON to ``--out``): image and pixel AUROC of each,
Spearman and Pearson correlation of the per-image scores, fit time (features +
coreset; ours also its threshold, shown apart), per-image predict time, the
ratios ours / anomalib against the goals, the memory bank sizes and a
feature check on one image; then every known difference between the two
implementations. Run by hand, not in CI:

    .hv/bin/python bench/patchcore_vs_anomalib.py                       # 200 train images, 256 px
    .hv/bin/python bench/patchcore_vs_anomalib.py --train 20 --image-size 128 --test-good 8 --test-defect-per-kind 2
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ANOMALIB_VERSION = "2.7.0"
VENV = Path(__file__).resolve().parent / ".venvs" / "anomalib"


def project_site_dirs() -> list[str]:
    """site-packages directories the project's interpreter sees (its venv and any venv it layers on)."""
    dirs = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    return list(dict.fromkeys(dirs))


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_anomalib(venv: Path, log: Any) -> Path:
    """The anomalib venv, built if absent, layered on the project's site-packages (torch, torchvision, timm not replaced)."""
    import torch

    python = venv_python(venv)
    probe = "import anomalib, torch; print(anomalib.__version__, torch.__version__)"
    if python.is_file():
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.split() == [ANOMALIB_VERSION, torch.__version__]:
            return python
    log(f"building {venv} (anomalib {ANOMALIB_VERSION} on the project's torch {torch.__version__})")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # after the venv's own site-packages, so anomalib's additions win only where the project has nothing
    (site / "zz_project_site.pth").write_text("\n".join(project_site_dirs()) + "\n")
    pins = []  # installed distribution versions (torch's metadata has no +cu local tag)
    for name in ("torch", "torchvision", "timm", "numpy"):
        pins.append(f"{name}=={importlib.metadata.version(name)}")
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), f"anomalib=={ANOMALIB_VERSION}"],
        check=True,
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    if done.returncode != 0 or done.stdout.split() != [ANOMALIB_VERSION, torch.__version__]:
        raise SystemExit(
            f"the anomalib venv does not run anomalib {ANOMALIB_VERSION} on torch {torch.__version__}: "
            f"{done.stdout.strip()} {done.stderr[-1500:]}"
        )
    return python


def anomalib_child(job_path: str) -> None:
    """Runs in the anomalib venv: fit anomalib's PatchcoreModel on the job's images, score the test images."""
    import numpy as np
    import torch
    from anomalib.data.utils import read_image
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel
    from anomalib.pre_processing import PreProcessor
    from torchvision.transforms import v2

    job = json.loads(Path(job_path).read_text())
    torch.set_num_threads(job["threads"])
    torch.manual_seed(job["seed"])
    model = PatchcoreModel(
        layers=job["layers"], backbone=job["model"], pre_trained=False, num_neighbors=job["num_neighbors"]
    )
    model.feature_extractor.feature_extractor.load_state_dict(torch.load(job["weights"], weights_only=True))
    bicubic = job["interpolation"] == "bicubic"
    mode = v2.InterpolationMode.BICUBIC if bicubic else v2.InterpolationMode.BILINEAR
    size = job["image_size"]
    pre = PreProcessor(
        transform=v2.Compose(
            [v2.Resize((size, size), interpolation=mode, antialias=True), v2.Normalize(job["mean"], job["std"])]
        )
    )

    def batches(paths: list[str]) -> Any:
        for lo in range(0, len(paths), job["batch_size"]):
            yield pre(torch.stack([read_image(p, as_tensor=True) for p in paths[lo : lo + job["batch_size"]]]))

    start = time.perf_counter()
    model.train()
    for batch in batches(job["train"]):
        model(batch)
    features_s = time.perf_counter() - start
    bank = sum(int(e.shape[0]) for e in model.embedding_store)
    start = time.perf_counter()
    model.subsample_embedding(job["coreset_ratio"])
    coreset_s = time.perf_counter() - start
    model.eval()
    scores, maps = [], []
    start = time.perf_counter()
    with torch.no_grad():
        for batch in batches(job["test"]):
            out = model(batch)
            scores.append(out.pred_score.reshape(-1))
            maps.append(out.anomaly_map[:, 0])
    predict_s = time.perf_counter() - start
    with torch.no_grad():  # the locally aware feature grid of the first test image, for the feature check
        first = next(batches(job["test"][:1]))
        features = {k: model.feature_pooler(v) for k, v in model.feature_extractor(first).items()}
        grid = model.generate_embedding(features)
    np.savez(
        job["out"],
        scores=torch.cat(scores).numpy(),
        maps=torch.cat(maps).numpy().astype(np.float32),
        grid=grid.numpy(),
        memory=model.memory_bank.numpy(),
    )
    timings = {"features_s": features_s, "coreset_s": coreset_s, "predict_s": predict_s, "bank": bank}
    Path(job["out"]).with_suffix(".json").write_text(json.dumps(timings))


def load_images(args: argparse.Namespace) -> tuple[list[Any], list[Any], str]:
    """(train normals, test samples, dataset fingerprint) of one anomaly-synth category, generated by our adapter."""
    from asebench.datasets.anomaly_synth.adapter import AnomalySynth

    options = AnomalySynth.Options(
        categories=[args.category],
        image_size=args.image_size,
        train_per_category=args.train,
        test_good_per_category=args.test_good,
        test_defect_per_kind=args.test_defect_per_kind,
    )
    loaded = AnomalySynth(options).load()
    train = [s for s in loaded.samples if s.metadata.get("official_split") == "train"]
    test = [s for s in loaded.samples if s.metadata.get("official_split") == "test"]
    return sorted(train, key=lambda s: s.id), sorted(test, key=lambda s: s.id), loaded.fingerprint


class Timer:
    """Wraps a module function and adds up the seconds spent in it."""

    def __init__(self, module: Any, name: str) -> None:
        self.module, self.name, self.seconds = module, name, 0.0
        self.original = getattr(module, name)

    def __enter__(self) -> Timer:
        def timed(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return self.original(*a, **k)
            finally:
                self.seconds += time.perf_counter() - start

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.original)


def run_ours(
    args: argparse.Namespace, train: list[Any], test: list[Any], fingerprint: str, cache: Path
) -> dict[str, Any]:
    """Fit and predict through the ``patchcore`` plugin, fresh feature cache; scores, maps, timings, one grid."""
    import numpy as np

    import asebench.components.thresholds as thresholds
    import asebench.methods._patchcore.coreset as coreset
    from asebench.api.data import Task
    from asebench.api.method import MethodContext, split_view
    from asebench.methods.patchcore import PatchCore, PatchCoreOptions

    def view(samples: list[Any], labelled: bool) -> Any:
        labels = np.zeros(len(samples), dtype=np.int64) if labelled else None
        return split_view(
            samples, ("normal", "defect"), labels, task=Task.BINARY, normal_index=0,
            dataset_name="anomaly-synth", dataset_fingerprint=fingerprint,
        )  # fmt: skip

    options = PatchCoreOptions(
        model=args.model, layers=args.layers, coreset_ratio=args.coreset_ratio, num_neighbors=args.num_neighbors,
        image_size=args.image_size, batch_size=args.batch_size,
    )  # fmt: skip
    method = PatchCore(options, MethodContext(seed=args.seed, cache_dir=cache))
    with Timer(coreset, "coreset") as core, Timer(thresholds, "detector_threshold") as threshold:
        start = time.perf_counter()
        method.fit(view(train, True), view([], True))
        fit_s = time.perf_counter() - start
    test_view = view(test, False)
    start = time.perf_counter()
    predictions = method.predict(test_view)
    predict_s = time.perf_counter() - start
    info = next(iter(method.coreset_info.values()))
    bank = method._patches(method._grids(view(train, True), train))  # from the feature cache
    bank = bank.reshape(-1, bank.shape[-1])
    other, _ = coreset.coreset(bank, args.coreset_ratio, seed=args.seed + 1)  # our own seed-to-seed spread
    return {
        "scores": np.asarray(predictions.anomaly_scores),
        "maps": np.asarray(predictions.anomaly_maps),
        "grid": method._grids(test_view, test[:1]),
        "patches": method._patches(method._grids(test_view, test)),
        "memory": next(iter(method.memory.values()))[0].numpy(),
        "fit_s": fit_s,
        "coreset_s": core.seconds,
        "threshold_s": threshold.seconds,
        "features_s": fit_s - core.seconds - threshold.seconds,
        "predict_s": predict_s,
        "bank": info["bank"],
        "train_patches": bank,
        "memory_next_seed": bank[other].numpy(),
    }


def run_anomalib(
    args: argparse.Namespace, python: Path, train: list[Any], test: list[Any], scratch: Path
) -> dict[str, Any]:
    """Same images, weights and settings through anomalib in its venv (a subprocess)."""
    import numpy as np
    import torch

    from asebench.components.backbones import create_timm_model, preprocessing_for
    from asebench.components.weights import resolve_weights

    source, reason = resolve_weights(args.model, "auto")
    if source is None:
        raise SystemExit(reason)
    pre = preprocessing_for(args.model, args.image_size)
    backbone = create_timm_model(
        args.model, source, 0, args.image_size, features_only=True, out_indices=tuple(args.layers)
    )
    torch.save(backbone.state_dict(), scratch / "backbone.pt")
    job = {
        "model": args.model, "layers": args.layers, "weights": str(scratch / "backbone.pt"),
        "image_size": args.image_size, "interpolation": pre.interpolation, "mean": list(pre.mean), "std": list(pre.std),
        "coreset_ratio": args.coreset_ratio, "num_neighbors": args.num_neighbors, "seed": args.seed,
        "threads": args.threads, "batch_size": args.batch_size, "out": str(scratch / "anomalib.npz"),
        "train": [str(s.image) for s in train], "test": [str(s.image) for s in test],
    }  # fmt: skip
    (scratch / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run([str(python), __file__, "--anomalib-child", str(scratch / "job.json")], env=env)
    if done.returncode != 0:
        raise SystemExit(f"the anomalib side failed (exit {done.returncode})")
    arrays = np.load(scratch / "anomalib.npz")
    timings = json.loads((scratch / "anomalib.json").read_text())
    fit_s = timings["features_s"] + timings["coreset_s"]
    return {**{k: arrays[k] for k in arrays.files}, **timings, "fit_s": fit_s, "threshold_s": 0.0}


def masks_of(test: list[Any], size: int) -> Any:
    """(N, size, size) boolean ground truth: the sample's mask, all False for a good image."""
    import numpy as np
    from PIL import Image

    masks = np.zeros((len(test), size, size), dtype=bool)
    for i, sample in enumerate(test):
        if sample.mask is not None:
            mask = Image.open(sample.mask).convert("L")
            masks[i] = np.asarray(mask.resize((size, size), Image.NEAREST)) > 0
    return masks


def with_memory(patches: Any, memory: Any, num_neighbors: int) -> Any:
    """Our image scores of our test patches against another memory bank (attributes a difference to the coreset)."""
    import torch

    from asebench.methods._patchcore.scoring import image_scores, patch_scores

    bank = torch.from_numpy(memory).float()
    scores, where = patch_scores(patches, bank)
    return image_scores(patches, scores, where, bank, num_neighbors).numpy()


def coverage(bank: Any, memory: Any) -> dict[str, float]:
    """Max and mean distance of every training patch to its nearest memory patch (what a coreset minimises)."""
    import torch

    from asebench.methods._patchcore.scoring import nearest

    distances, _ = nearest(bank, torch.as_tensor(memory).float(), k=1)
    return {"max": round(float(distances.max()), 3), "mean": round(float(distances.mean()), 3)}


def compare(args: argparse.Namespace, test: list[Any], ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import roc_auc_score

    truth = np.array([s.label != "good" for s in test])
    masks = masks_of(test, ours["maps"].shape[-1])
    n = len(test)

    def side(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "image_auroc": round(float(roc_auc_score(truth, r["scores"])), 4),
            "pixel_auroc": round(float(roc_auc_score(masks.ravel(), r["maps"].ravel())), 4),
            "fit_s": round(r["fit_s"], 2),
            "fit_features_s": round(r["features_s"], 2),
            "fit_coreset_s": round(r["coreset_s"], 2),
            "fit_threshold_s": round(r["threshold_s"], 2),
            "predict_ms_per_image": round(1000 * r["predict_s"] / n, 1),
            "patch_bank": int(r["bank"]),
            "memory": int(r["memory"].shape[0]),
        }

    a, b = side(ours), side(theirs)
    cross = with_memory(ours["patches"], theirs["memory"], args.num_neighbors)
    grid_ours, grid_theirs = np.asarray(ours["grid"]), np.asarray(theirs["grid"])
    feature_diff = float(np.abs(grid_ours - grid_theirs).max()) if grid_ours.shape == grid_theirs.shape else None
    own_spread = with_memory(ours["patches"], ours["memory_next_seed"], args.num_neighbors)
    own_spread_auroc = float(roc_auc_score(truth, own_spread))
    fit_ratio = a["fit_s"] / b["fit_s"]
    fit_memory_ratio = (a["fit_s"] - a["fit_threshold_s"]) / b["fit_s"]
    predict_ratio = a["predict_ms_per_image"] / b["predict_ms_per_image"]
    spearman = float(spearmanr(ours["scores"], theirs["scores"]).statistic)
    return {
        "ours": a,
        "anomalib": b,
        "spearman": round(spearman, 4),
        "pearson": round(float(pearsonr(ours["scores"], theirs["scores"]).statistic), 4),
        "spearman_ours_scoring_anomalib_memory_vs_anomalib": round(
            float(spearmanr(cross, theirs["scores"]).statistic), 4
        ),
        "max_abs_diff_ours_scoring_anomalib_memory": float(np.abs(cross - theirs["scores"]).max()),
        "image_auroc_ours_scoring_anomalib_memory": round(float(roc_auc_score(truth, cross)), 4),
        "spearman_ours_seed_vs_seed_plus_1": round(float(spearmanr(ours["scores"], own_spread).statistic), 4),
        "image_auroc_ours_seed_plus_1": round(own_spread_auroc, 4),
        "coverage_radius_over_train_patches": {
            "ours": coverage(ours["train_patches"], ours["memory"]),
            "anomalib": coverage(ours["train_patches"], theirs["memory"]),
        },
        "feature_grid_shape": list(grid_ours.shape),
        "feature_grid_max_abs_diff": feature_diff,
        "feature_grid_max_abs": float(np.abs(grid_theirs).max()),
        "ratios_ours_over_anomalib": {
            "fit": round(fit_ratio, 3),
            "fit_without_our_threshold": round(fit_memory_ratio, 3),
            "fit_coreset": round(a["fit_coreset_s"] / b["fit_coreset_s"], 4),
            "predict_per_image": round(predict_ratio, 3),
        },
        "goals": {
            "image_auroc_within_0.01": abs(a["image_auroc"] - b["image_auroc"]) <= 0.01,
            "spearman_at_least_0.99": spearman >= 0.99,
            "fit_at_most_0.1x": fit_ratio <= 0.1,
            "predict_at_most_1.0x": predict_ratio <= 1.0,
        },
    }


DIFFERENCES = [
    "features: identical recipe (avg-pool 3x3 stride 1 pad 1 per stage, bilinear align_corners=False to the first "
    "stage's grid, concatenation, no channel pooling); see feature_grid_max_abs_diff for one test image",
    "coreset projection: anomalib's SparseRandomProjection(eps=0.9) to the Johnson-Lindenstrauss dimension "
    "4 ln(N) / (eps^2/2 - eps^3/3) (about 300 for 205k patches, i.e. more than lite0's 152 channels), ours a dense "
    "Gaussian projection to 128 dimensions (the paper's); different start patch (anomalib: torch's global RNG, ours "
    "a generator seeded with the cell seed). Same coreset size, different centres: the only cause of score "
    "differences when our scoring of anomalib's memory reproduces anomalib's scores (spearman_ours_scoring_...)",
    "rank correlation: a 1% coreset is a random draw (start patch, projection); spearman_ours_seed_vs_seed_plus_1 "
    "is our own score's rank correlation between two seeds, the spread any re-implementation has against another; "
    "coverage_radius_over_train_patches says which memory covers the training patches more tightly",
    "coreset speed: anomalib computes ||x - c|| over the whole projected bank per centre in a Python loop "
    "(two passes plus an allocation per step); ours updates squared distances with one BLAS product on the "
    "transposed 128-d bank and an in-place minimum, one thread",
    "image score: the same reweighting w = 1 - softmax(d)[0] over the b = num_neighbors nearest memory patches "
    "of m*, applied to the max patch distance",
    "anomaly maps (pixel AUROC only): anomalib upsamples the patch scores with nearest-neighbour interpolation "
    "(F.interpolate's default), ours bilinearly; both then blur with sigma 4, kernel 33, reflect padding",
    "our fit also scores every memory image held out against the coreset to set the official-protocol threshold "
    "(fit_threshold_s); anomalib's torch model has no threshold (its Lightning module calibrates one on validation "
    "data); fit_without_our_threshold compares the memory building alone",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anomalib-child", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--category", default="grid")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--train", type=int, default=200, help="normal training images")
    parser.add_argument("--test-good", type=int, default=40)
    parser.add_argument("--test-defect-per-kind", type=int, default=10)
    parser.add_argument("--coreset-ratio", type=float, default=0.01, help="0.01: 2,048 centres of 205k patches")
    parser.add_argument("--num-neighbors", type=int, default=9)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads of both sides")
    parser.add_argument("--venv", type=Path, default=VENV)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/patchcore_vs_anomalib.json"))
    args = parser.parse_args()
    if args.anomalib_child:
        anomalib_child(args.anomalib_child)
        return

    import torch

    torch.set_num_threads(args.threads)
    python = ensure_anomalib(args.venv, lambda m: print(m, file=sys.stderr))
    train, test, fingerprint = load_images(args)
    with tempfile.TemporaryDirectory(prefix="asebench-patchcore-bench-") as scratch:
        theirs = run_anomalib(args, python, train, test, Path(scratch))
        ours = run_ours(args, train, test, fingerprint, Path(scratch) / "cache")
    result = {
        "setup": {
            "dataset": f"anomaly-synth {args.category}, {args.image_size} px",
            "train_images": len(train),
            "test_images": len(test),
            "test_defective": sum(s.label != "good" for s in test),
            "model": args.model,
            "layers": args.layers,
            "coreset_ratio": args.coreset_ratio,
            "num_neighbors": args.num_neighbors,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "torch_threads": args.threads,
            "torch": torch.__version__,
            "anomalib": ANOMALIB_VERSION,
        },
        **compare(args, test, ours, theirs),
        "differences": DIFFERENCES,
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
