"""Every built-in that claims ``Capabilities.thread_invariant`` gives the same records at 1 and at 2 threads.

The claim lets the process executor run its cells one thread each, side by
side (what ``make run`` does), while the ``local`` executor gives a cell every
core: both must store the same predictions, probabilities and scores. Each
side runs in its own process with its own empty cache, so the one-time work
(features, OCR, texts, embeddings) is computed at that side's thread count
too. The default run checks one cheap method per kind of computation; the
slow tests (``make test-all``) check every claimed method, the text family
included (its OCR takes a minute per side).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asebench.api.registry import METHODS
from asebench.run.jobs import THREAD_VARIABLES

SMALL_DATA = {"ase-synth": {"scale": 0.2, "points_scale": 0.1}}


def claimed(with_text: bool) -> list[str]:
    """Built-in methods that claim thread invariance (with or without the text family)."""
    names = []
    for name in METHODS.names():
        if METHODS.entry_source(name) != "builtin":
            continue
        capabilities = METHODS.get(name).capabilities
        if capabilities.thread_invariant and capabilities.needs_text == with_text:
            names.append(name)
    return names


def run_at(threads: int, methods: list[str], root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """``asebench run`` in a fresh process with ``threads`` CPU threads and an empty cache: records by cell."""
    config = {
        "methods": methods,
        "datasets": ["ase-synth"],
        "dataset_options": SMALL_DATA,
        "episodes": {"count": 20, "queries": 5, "shots": [1, 5]},
        "bootstrap": {"samples": 0},
        "device": "cpu",
        "efficiency": False,
        "run_dir": str(root / f"run-{threads}"),
    }
    config_file = root / f"config-{threads}.yaml"  # JSON is YAML
    config_file.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env["ASEBENCH_CACHE_DIR"] = str(root / f"cache-{threads}")
    command = [str(Path(sys.executable).with_name("asebench")), "run", "-c", str(config_file)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    records = {}
    for path in sorted((root / f"run-{threads}" / "cells").glob("*.json")):
        record = json.loads(path.read_text())
        records[(record["cell"]["method"], record["cell"]["task"])] = record
    return records


def assert_same_records(methods: list[str], root: Path) -> None:
    one, two = run_at(1, methods, root), run_at(2, methods, root)
    assert one.keys() == two.keys() and one
    for cell, record in one.items():
        other = two[cell]
        assert record["status"] == other["status"], cell
        if record["status"] != "ok":
            continue
        assert (
            record["environment"]["env_vars"]["OMP_NUM_THREADS"],
            other["environment"]["env_vars"]["OMP_NUM_THREADS"],
        ) == (
            "1",
            "2",
        )  # the torch block is absent where a cell never imports torch (majority)
        assert record["predictions"] == other["predictions"], f"{cell}: predictions differ between 1 and 2 threads"
        assert record["metrics"] == other["metrics"], cell


QUICK = [
    "majority",
    "simpleshot",
    "kshot-probe",
    "knn",
    "mahalanobis",
    "tf_efficientnet_lite0-probe",
    "patchcore-1shot",
]
"""One cheap method per kind of computation (BLAS, pooled features, neighbours, patch grids): the default test run."""


def test_cheap_claimed_methods_give_the_same_records_at_one_and_two_threads(tmp_path: Path) -> None:
    assert set(QUICK) <= set(claimed(with_text=False))
    assert_same_records(QUICK, tmp_path)


@pytest.mark.slow
def test_every_claimed_method_without_text_gives_the_same_records_at_one_and_two_threads(tmp_path: Path) -> None:
    methods = claimed(with_text=False)
    assert {"majority", "protonet", "protonet-conv4", "maml", "knn", "resnet18-scratch"} <= set(methods)
    assert_same_records(methods, tmp_path)


@pytest.mark.slow
def test_the_claimed_text_methods_give_the_same_records_at_one_and_two_threads(tmp_path: Path) -> None:
    methods = claimed(with_text=True)
    assert "ocr-numbers-only" in methods
    assert_same_records(methods, tmp_path)


def test_pinned_methods_claim_thread_invariance_by_running_on_one_thread() -> None:
    """Thread-dependent sums (BatchNorm's gradients, PatchCore's patch grids): the claims hold by pinning one thread."""
    for name in ("tf_efficientnet_lite0", "resnet18-scratch", "patchcore", "patchcore-1shot"):
        method = METHODS.get(name)
        assert method.capabilities.thread_invariant, name
        assert method.Options().torch_threads == 1, name
