"""docs/plugins.md: its code is valid and cannot drift, and its complete example runs as the guide says."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from asebench.api import Method, MethodContext, Sample, split_view
from asebench.api.plugins import load_plugin
from asebench.api.registry import METHODS

REPO_ROOT = Path(__file__).resolve().parents[1]
GUIDE = REPO_ROOT / "docs" / "plugins.md"
EXAMPLE = "docs/examples/histogram_forest.py"  # as a user types it, relative to the repository root
NAME = "histogram-forest"


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def readme_example() -> str:
    blocks = re.findall(
        r"```python\n(# my_method\.py\n.*?)```", (REPO_ROOT / "README.md").read_text(encoding="utf-8"), re.S
    )
    assert len(blocks) == 1
    return blocks[0]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# -- the page ------------------------------------------------------------------------------------


def test_every_python_block_of_the_guide_is_valid_python() -> None:
    blocks = python_blocks(guide_text())
    assert len(blocks) >= 5
    for number, block in enumerate(blocks, start=1):
        compile(block, f"docs/plugins.md python block {number}", "exec")


def test_the_guide_opens_with_the_readme_example_verbatim() -> None:
    assert python_blocks(guide_text())[0] == readme_example()


def test_the_guide_prints_the_example_file_verbatim() -> None:
    assert (REPO_ROOT / EXAMPLE).read_text(encoding="utf-8") in python_blocks(guide_text())


def test_every_link_of_the_guide_resolves() -> None:
    text = guide_text()
    headings = {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#") and " " in line}
    anchors = re.findall(r"\]\(#([^)]+)\)", text)
    assert anchors and not sorted(set(anchors) - headings)
    for target in re.findall(r"\]\((?!#|https?:)([^)]+)\)", text):
        assert (GUIDE.parent / target).exists(), target


# -- the complete example ------------------------------------------------------------------------


@pytest.fixture()
def forest_class() -> Iterator[type[Method]]:
    """The example's class, loaded as ``--plugin`` loads it; the process-wide registry is restored afterwards."""
    METHODS.discover()
    entries, broken, modules = set(METHODS._entries), len(METHODS._broken), set(sys.modules)
    assert load_plugin(str(REPO_ROOT / EXAMPLE)) is None
    yield METHODS.get(NAME)
    for name in set(METHODS._entries) - entries:
        del METHODS._entries[name]
    del METHODS._broken[broken:]
    for name in set(sys.modules) - modules:
        if name.startswith("asebench_plugin_"):
            del sys.modules[name]


def noise_splits(classes: int = 3) -> tuple[Any, Any]:
    """Random images with random labels: the trees disagree, so their seed shows in the probabilities."""
    rng = np.random.default_rng(7)
    samples = [Sample(f"s{i}", "", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)) for i in range(45)]
    labels = rng.integers(0, classes, 45)
    names = ["normal", *(f"type{k}" for k in range(1, classes))]
    return split_view(samples[:30], names, labels[:30]), split_view(samples[30:], names)


def forest_probabilities(cls: type[Method], seed: int, bins: int = 8) -> np.ndarray:
    train, test = noise_splits()
    method = cls(cls.Options.model_validate({"bins": bins}), MethodContext(seed=seed))
    method.fit(train, train)
    predictions = method.predict(test)
    predictions.validate(len(test), test.num_classes)
    assert predictions.probabilities is not None
    assert np.array_equal(predictions.labels, predictions.probabilities.argmax(axis=1))
    return predictions.probabilities


def test_the_run_seed_is_the_forest_seed(forest_class: type[Method]) -> None:
    first = forest_probabilities(forest_class, seed=0)
    assert np.array_equal(first, forest_probabilities(forest_class, seed=0))
    assert not np.allclose(first, forest_probabilities(forest_class, seed=1))


def test_the_option_is_typed_and_unknown_keys_are_refused(forest_class: type[Method]) -> None:
    assert forest_class.Options.model_validate({}).model_dump() == {"bins": 16}
    for bad in ({"bin": 8}, {"bins": 1}):
        with pytest.raises(ValidationError):
            forest_class.Options.model_validate(bad)


def test_a_class_the_forest_never_saw_gets_probability_zero(forest_class: type[Method]) -> None:
    train, test = noise_splits()
    seen = split_view(train.samples, [*train.class_names, "type9"], np.minimum(train.labels, 2))
    method = forest_class(context=MethodContext(seed=0))
    method.fit(seen, seen)
    probabilities = method.predict(split_view(test.samples, seen.class_names)).probabilities
    assert probabilities is not None and probabilities.shape == (len(test), 4)
    assert np.all(probabilities[:, 3] == 0)


def test_the_example_runs_with_asebench_run_plugin(
    tiny_folder_dataset: Callable[..., Path], run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = run_cli(
        "run", "--plugin", EXAMPLE, "-m", NAME, "-d", f"folder:{tiny_folder_dataset()}", "--seeds", "0,1",
        "--run-dir", run_dir, "--device", "cpu", "--no-efficiency",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(path.read_text(encoding="utf-8")) for path in sorted((run_dir / "cells").glob("*.json"))]
    assert sorted((r["cell"]["task"], r["cell"]["seed"]) for r in records) == [
        ("binary", 0), ("binary", 1), ("multiclass", 0), ("multiclass", 1),
    ]  # fmt: skip
    for record in records:
        assert record["status"] == "ok", record.get("error")
        method = record["method"]
        assert method["name"] == NAME and method["version"] == "1" and method["options"] == {"bins": 16}
        assert method["provenance"]["random_state"] == record["cell"]["seed"]
        assert method["provenance"]["trees"] == 200 and method["provenance"]["scikit_learn"]
        assert list(method["code"]["files"]) == ["histogram_forest.py"]
        probabilities = np.asarray(record["predictions"]["probabilities"])
        assert probabilities.shape == (len(record["predictions"]["ids"]), len(record["dataset"]["class_names"]))
        assert np.allclose(probabilities.sum(axis=1), 1.0)
