"""Opt-in downloads of timm's pretrained weights (``--allow-download``): off by default, one-line reasons.

The success path runs against a fake hub on 127.0.0.1 (the ``fake_hub`` fixture): a tiny timm
model's random weights, served where ``timm.create_model(..., pretrained=True)`` would fetch them,
go from ``weights: auto`` through ``hf_hub_download`` into the record's provenance.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from asebench.api.errors import MethodUnavailable
from asebench.api.method import Method, MethodOptions
from asebench.components.weights import resolve_weights, safetensors_first, timm_checkpoint
from asebench.report.summary import summary_rows, table_notes
from asebench.run.config import RunConfig
from asebench.run.grid import method_availability
from asebench.run.runner import run

OFFLINE_FAILURE = (
    "tried to download timm's pretrained weights for resnet18 (timm/resnet18.a1_in1k, Hugging Face hub) "
    "but it failed: offline (HF_HUB_OFFLINE is set; unset it to download); "
    "set the method's option weights to a local .safetensors/.pth file or directory"
)
TINY_MODEL = "test_convnext"  # 0.3 M parameters; timm's pretrained config names timm/test_convnext.r160_in1k
TINY_REPO = "timm/test_convnext.r160_in1k"


@pytest.fixture()
def empty_offline_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No weights in the Hugging Face or torch-hub caches, and the hub offline (as under ``make test``)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def no_weights_reason(model: str) -> str:
    return (
        f"no local pretrained weights for {model} (weights: auto; none in the Hugging Face or timm caches): "
        "pass --allow-download (or ASEBENCH_ALLOW_DOWNLOAD=1) to download timm's, or set the method's option "
        "weights to a local .safetensors/.pth file or directory, or to 'scratch' to train from random init"
    )


def test_without_the_switch_nothing_is_downloaded_and_the_reason_names_it(empty_offline_caches: None) -> None:
    assert resolve_weights("resnet18", "auto") == (None, no_weights_reason("resnet18"))


def test_allowed_but_offline_says_the_download_was_tried_and_why_it_failed(empty_offline_caches: None) -> None:
    source, reason = resolve_weights("resnet18", "auto", allow_download=True)
    assert source is None and reason == OFFLINE_FAILURE


def test_the_reason_of_every_timm_method_groups_into_one_console_line(empty_offline_caches: None) -> None:
    records = []
    for method, model in (("resnet18", "resnet18"), ("resnet18-probe", "resnet18"), ("resnet50", "resnet50")):
        record: dict[str, Any] = {
            "cell": {"method": method, "dataset": "ase-synth", "task": "binary", "seed": 0, "fold": 0},
            "status": "skipped",
            "skip_reason": resolve_weights(model, "auto")[1],
            "method": {"name": method, "family": "vision"},
        }
        records.append(record)
    notes = table_notes(summary_rows(records))
    assert notes == [f"skipped: {no_weights_reason('<method>')} -- resnet18, resnet18-probe, resnet50"]


def test_timm_checkpoint_follows_timms_pretrained_config() -> None:
    checkpoint = timm_checkpoint(TINY_MODEL)
    assert checkpoint is not None
    assert (checkpoint.library, checkpoint.repo_id, checkpoint.revision) == ("timm", TINY_REPO, None)
    assert checkpoint.filenames == ("model.safetensors", "pytorch_model.bin")
    assert safetensors_first("weights.pth", {}) == ("weights.safetensors", "weights.pth")
    assert safetensors_first("model.safetensors", {}) == ("model.safetensors",)


def tiny_weights() -> bytes:
    import timm
    from safetensors.torch import save

    state = timm.create_model(TINY_MODEL, pretrained=False).state_dict()
    return save({key: value.contiguous() for key, value in state.items()})


def tiny_probe_config(root: Path, run_dir: Path, **extra: Any) -> RunConfig:
    return RunConfig(
        methods=["tiny-probe"],
        custom_methods={"tiny-probe": {"base": "resnet18-probe", "options": {"model": TINY_MODEL, "image_size": 32}}},
        datasets=["folder"],
        dataset_options={"folder": {"root": str(root)}},
        tasks=["binary"],
        device="cpu",
        run_dir=run_dir,
        bootstrap={"samples": 0},
        efficiency=False,
        **extra,
    )


def test_allow_download_fetches_timm_weights_into_the_hf_cache_and_the_record(
    fake_hub: Any, tiny_folder_dataset: Any, tmp_path: Path
) -> None:
    data = tiny_weights()
    fake_hub.files[(TINY_REPO, "model.safetensors")] = data
    root = tiny_folder_dataset()

    (skipped,) = run(tiny_probe_config(root, tmp_path / "run")).records
    assert skipped["status"] == "skipped" and skipped["skip_reason"] == no_weights_reason(TINY_MODEL)
    assert not [path for path in fake_hub.requests if "/resolve/" in path]  # off by default: no request at all

    (record,) = run(tiny_probe_config(root, tmp_path / "run", allow_download=True)).records
    assert record["status"] == "ok", record.get("error")
    provenance = record["method"]["provenance"]
    path = Path(provenance["weights_path"])
    assert path.is_relative_to(tmp_path / "hf-home" / "hub") and path.name == "model.safetensors"
    assert (
        provenance["weights_sha256"]
        == hashlib.sha256(data).hexdigest()
        == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert provenance["weights"] == "hf-cache" and TINY_REPO in provenance["weights_description"]
    assert f"/{TINY_REPO}/resolve/main/model.safetensors" in fake_hub.requests

    served = len(fake_hub.requests)
    source, _ = resolve_weights(TINY_MODEL, "auto", allow_download=True)
    assert source is not None and source.kind == "hf-cache" and source.path == path
    assert len(fake_hub.requests) == served  # a populated cache wins: no request


def test_the_method_context_carries_the_switch_to_fit_time(fake_hub: Any, tmp_path: Path) -> None:
    import numpy as np

    from asebench.api.data import Sample
    from asebench.api.method import MethodContext, split_view
    from asebench.components.extraction import frozen_features

    data = tiny_weights()
    fake_hub.files[(TINY_REPO, "model.safetensors")] = data
    rng = np.random.default_rng(0)
    samples = [Sample(f"s{i}", "normal", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for i in range(2)]
    split = split_view(samples, ["normal"], [0, 0])
    with pytest.raises(MethodUnavailable, match="pass --allow-download"):
        frozen_features(TINY_MODEL, "auto", 32, 2, split, MethodContext(cache_dir=tmp_path / "features"))
    context = MethodContext(cache_dir=tmp_path / "features", allow_download=True)
    result = frozen_features(TINY_MODEL, "auto", 32, 2, split, context)
    assert result.features.shape[0] == 2 and result.provenance["weights"] == "hf-download"
    assert result.provenance["weights_sha256"] == hashlib.sha256(data).hexdigest()


def test_the_pickle_is_fetched_when_the_hub_has_no_safetensors_twin(fake_hub: Any) -> None:
    fake_hub.files[(TINY_REPO, "pytorch_model.bin")] = b"a pickle stand-in"
    source, reason = resolve_weights(TINY_MODEL, "auto", allow_download=True)
    assert reason is None and source is not None and source.kind == "hf-download"
    assert source.path is not None and source.path.read_bytes() == b"a pickle stand-in"
    asked = [path.rsplit("/", 1)[-1] for path in fake_hub.requests if "/resolve/" in path]
    assert asked[0] == "model.safetensors" and asked[-1] == "pytorch_model.bin"


def test_a_repo_without_the_files_gives_the_hubs_answer_in_one_line(fake_hub: Any) -> None:
    source, reason = resolve_weights(TINY_MODEL, "auto", allow_download=True)
    assert source is None and reason is not None and "\n" not in reason
    assert reason.startswith(f"tried to download timm's pretrained weights for {TINY_MODEL} ({TINY_REPO}, ")
    assert "404" in reason and reason.endswith(
        "set the method's option weights to a local .safetensors/.pth file or directory"
    )


@pytest.mark.parametrize("switch", ["flag", "env"])
def test_cli_switch_offline_skips_with_one_line_naming_hf_hub_offline(
    switch: str,
    empty_offline_caches: None,
    call_main: Any,
    tiny_folder_dataset: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ["run", "-m", "resnet18-probe", "-d", f"folder:{tiny_folder_dataset()}", "--tasks", "binary"]
    args += ["--run-dir", tmp_path / "run", "--device", "cpu", "--no-efficiency"]
    if switch == "flag":
        args.append("--allow-download")
    else:
        monkeypatch.setenv("ASEBENCH_ALLOW_DOWNLOAD", "1")
    code, out, err = call_main(*args)
    assert code == 0, err
    note = OFFLINE_FAILURE.replace("for resnet18 (", "for <method> (")
    assert f"skipped: {note} -- resnet18-probe" in out.splitlines()
    assert "Traceback" not in out + err
    record = next((tmp_path / "run" / "cells").glob("*.json")).read_text()
    assert OFFLINE_FAILURE in record


class _OldPlugin(Method):
    """A plugin written before the switch: ``availability(cls, options)``."""

    @classmethod
    def availability(cls, options: MethodOptions) -> str | None:  # type: ignore[override]
        return "old plugin"

    def fit(self, train: Any, val: Any) -> None:
        return None

    def predict(self, test: Any) -> Any:
        return None


class _NewPlugin(_OldPlugin):
    @classmethod
    def availability(cls, options: MethodOptions, allow_download: bool = False) -> str | None:
        return f"allow_download={allow_download}"


def test_the_switch_reaches_availability_only_where_it_is_a_parameter() -> None:
    options = MethodOptions()
    assert method_availability(_OldPlugin, options, True) == "old plugin"
    assert method_availability(_NewPlugin, options, True) == "allow_download=True"
    assert method_availability(_NewPlugin, options, False) == "allow_download=False"
