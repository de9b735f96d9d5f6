"""Look at a report's figures in a real headless Chromium: a non-blank screenshot and every figure decoded.

Writing a PNG proves nothing about what a reader sees; this renders
``report.html`` in Chromium and checks

* a full-page screenshot (``--screenshot``) is not blank: the grey-level
  standard deviation is above ``--min-std`` and enough pixels are not white;
* every figure the report wrote is in the page as ``<figure id="figure-<stem>">``
  with an ``<img>`` that the browser decoded (``complete``, natural size > 0,
  laid out with a width) and that is not blank (the image drawn on a canvas has
  a grey-level spread above ``--min-std``): a small script appended to a copy
  of the page writes these facts into the DOM, read back with ``--dump-dom``.

Without ``--report`` the report is built from synthetic records (no model
runs): K-shot and prompt-ablation records of anomaly detectors, classifiers
over two datasets for the ranking's critical-difference diagram (transfer
records are left out: that section has no figure, and their blocks would leave
the classifiers unranked).

Chromium comes from Debian's packages: ``apt-get install -y chromium`` (the
binary is ``chromium``; ``--chromium PATH`` picks another). Exit status 0 when
every check passes, 1 when one fails, 2 when no Chromium is found.

    .venv/bin/python bench/report_in_browser.py                       # synthetic records
    .venv/bin/python bench/report_in_browser.py --report runs/default/report/report.html
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files")
PROBE = """
<pre id="figure-check"></pre>
<script>
window.addEventListener("load", () => {
  const out = [];
  for (const fig of document.querySelectorAll("figure[id^='figure-']")) {
    const img = fig.querySelector("img");
    const row = {id: fig.id.slice(7), img: !!img};
    if (img) {
      row.complete = img.complete; row.width = img.naturalWidth; row.height = img.naturalHeight;
      row.shown = img.getBoundingClientRect().width;
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0);
      const px = ctx.getImageData(0, 0, canvas.width || 1, canvas.height || 1).data;
      let sum = 0, sq = 0, n = 0;
      for (let i = 0; i < px.length; i += 16) { const g = (px[i] + px[i+1] + px[i+2]) / 3; sum += g; sq += g*g; n++; }
      row.std = n ? Math.sqrt(Math.max(sq / n - (sum / n) ** 2, 0)) : 0;
    }
    out.push(row);
  }
  document.getElementById("figure-check").textContent = "FIGURES" + JSON.stringify(out) + "END";
});
</script>
"""


def find_chromium(explicit: str | None = None) -> str | None:
    """The Chromium binary: ``explicit``, else the first of :data:`CHROMIUMS` on the PATH."""
    if explicit:
        return explicit if Path(explicit).is_file() or shutil.which(explicit) else None
    return next((path for name in CHROMIUMS if (path := shutil.which(name))), None)


def synthetic_report(out: Path) -> tuple[Path, list[str]]:
    """Write a report from synthetic records; returns report.html and the figure stems it embeds."""
    from asebench.api.data import Task
    from asebench.report.writer import write_report
    from asebench.scoring.cell import score_cell
    from asebench.scoring.tail import TailConfig

    classes = ("normal", "defect")

    def record(method: str, dataset: str, seed: int, right: float, **extra: Any) -> dict[str, Any]:
        truth = np.repeat([0, 1], [15, 15])
        rng = np.random.default_rng(zlib.crc32(f"{method}/{dataset}/{seed}".encode()))
        pred = np.where(rng.random(30) < right, truth, 1 - truth)
        metrics, tail = score_cell(truth.tolist(), pred.tolist(), classes, Task.BINARY, [20, 20], TailConfig(), 0, seed)
        base: dict[str, Any] = {
            "schema_version": 1,
            "cell": {
                "method": method,
                "dataset": dataset,
                "task": "binary",
                "seed": seed,
                "fold": 0,
                "config_hash": "h",
            },
            "status": "ok",
            "method": {"name": method, "family": "toy", "class": extra.pop("cls", f"toy:{method}"), "options": {}},
            "dataset": {"name": dataset, "fingerprint": dataset, "class_names": list(classes)},
            "split": {"seed": seed, "fold": 0, "digest": f"{dataset}{seed}", "train_counts": [20, 20]},
            "metrics": metrics,
            "tail": tail,
            "predictions": {"ids": [f"i{k}" for k in range(30)], "y_true": truth.tolist(), "y_pred": pred.tolist()},
            "timings": {"fit_s": 1.0, "predict_s": 0.1, "total_s": 1.2},
            "created_at": "2024-01-01T00:00:00+00:00",
        }
        base["method"].update(extra.pop("meta", {}))
        base["split"].update(extra.pop("split", {}))
        base.update(extra)
        return base

    records = []
    detector = {"capabilities": ["anomaly detector", "normal reference shots"]}
    for seed in (0, 1, 2):
        for dataset in ("synth-a", "synth-b"):
            for method, right in (("majority", 0.5), ("cnn", 0.8), ("probe", 0.7)):
                records.append(record(method, dataset, seed, right + seed / 50))
        for k, auroc in ((1, 0.70), (2, 0.76), (4, 0.81), (None, 0.88)):
            name = "patchcore" if k is None else f"patchcore-{k}shot"
            meta = {**detector, "provenance": {"k_shots": k}, "options": {"k": k}}
            records.append(
                record(name, "synth-a", seed, 0.7, meta=meta, anomaly_metrics={"image_auroc": auroc + seed / 100})
            )
        for name, options, auroc in (
            ("winclip", {"prototype": "normalise-mean-normalise", "replace_underscores": True}, 0.80),
            ("winclip-fewshot", {"prototype": "normalise-mean-normalise", "replace_underscores": True, "k": 1}, 0.85),
            ("winclip-verbatim", {"prototype": "normalise-mean-normalise", "replace_underscores": False}, 0.78),
        ):
            meta = {
                **detector,
                "options": {**options, "k": options.get("k", 0)},
                "provenance": {"k_shots": options.get("k", 0)},
            }
            records.append(
                record(
                    name,
                    "synth-a",
                    seed,
                    0.7,
                    meta=meta,
                    cls="winclip:W",
                    anomaly_metrics={"image_auroc": auroc + seed / 100},
                )
            )
    output = write_report(records, [out], out)  # type: ignore[arg-type]
    return output.folder / "report.html", [figure.stem for figure in output.figures]


def screenshot_stats(png: Path) -> dict[str, float]:
    """Grey-level spread and share of non-white pixels of a screenshot."""
    from PIL import Image

    grey = np.asarray(Image.open(png).convert("L"), dtype=np.float64)
    return {"std": float(grey.std()), "non_white": float((grey < 245).mean()), "height": float(grey.shape[0])}


def check_page(page: Path, chromium: str, expected: list[str] | None, work: Path, min_std: float) -> list[str]:
    """Every problem found (empty: the page renders and every figure is there, decoded and not blank)."""
    problems: list[str] = []
    shot = work / "report.png"
    subprocess.run(
        [
            chromium,
            *FLAGS,
            f"--screenshot={shot}",
            "--window-size=1280,3000",
            "--virtual-time-budget=5000",
            page.as_uri(),
        ],
        check=False,
        capture_output=True,
        timeout=120,
    )
    if not shot.is_file():
        return [f"Chromium wrote no screenshot of {page}"]
    stats = screenshot_stats(shot)
    print(f"screenshot {shot}: grey std {stats['std']:.1f}, non-white {100 * stats['non_white']:.1f}%")
    if stats["std"] < min_std or stats["non_white"] < 0.01:
        problems.append(f"the screenshot looks blank (grey std {stats['std']:.1f}, non-white {stats['non_white']:.3f})")
    probe = work / "report_probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = subprocess.run(
        [chromium, *FLAGS, "--dump-dom", "--virtual-time-budget=5000", probe.as_uri()],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r"FIGURES(.*?)END", dom, re.DOTALL)
    if found is None:
        return [*problems, "the figure probe did not run (no FIGURES...END in the dumped DOM)"]
    figures = {row["id"]: row for row in json.loads(found.group(1))}
    for stem in expected if expected is not None else sorted(figures):
        row = figures.get(stem)
        if row is None:
            problems.append(f"figure {stem}: not in the page")
        elif not (row.get("img") and row.get("complete") and row.get("width", 0) > 0 and row.get("shown", 0) > 0):
            problems.append(f"figure {stem}: image not decoded or not laid out ({row})")
        elif row.get("std", 0.0) < min_std:
            problems.append(f"figure {stem}: blank (grey std {row['std']:.1f})")
        else:
            print(
                f"figure {stem}: {row['width']}x{row['height']} px, shown {row['shown']:.0f} px wide, std {row['std']:.1f}"
            )
    if not figures:
        problems.append("the page has no figure")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="report.html to check (default: one from synthetic records)")
    parser.add_argument("--chromium", help="the Chromium binary (default: chromium on the PATH)")
    parser.add_argument("--out", type=Path, help="folder for the report and screenshots (default: a temporary one)")
    parser.add_argument("--min-std", type=float, default=3.0, help="grey-level std below which an image is blank")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("no Chromium found: install it with `apt-get install -y chromium` (Debian) or pass --chromium PATH")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.report is None:
            page, expected = synthetic_report(work)
            print(f"report from synthetic records: {page} ({len(expected)} figures: {', '.join(expected)})")
        else:
            page, expected = args.report.resolve(), None
        problems = check_page(page, chromium, expected, work, args.min_std)
    for problem in problems:
        print(f"FAIL {problem}")
    print("ok: the page renders and every figure is decoded and not blank" if not problems else "failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
