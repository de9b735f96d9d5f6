"""``weights: auto`` of the CLIP methods: open_clip's pretrained tag, from the cache or (opt-in) the hub.

Building a real CLIP from a served checkpoint would need an 800 MB file, so the download is
checked up to the resolved file (path in the Hugging Face cache, sha256); loading a local
checkpoint into the model is what the other CLIP tests cover.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

from asebench.api.registry import METHODS
from asebench.methods._clip.pretrained import auto_tag, open_clip_checkpoint, resolve_clip_weights

REPO = "timm/vit_base_patch16_plus_clip_240.laion400m_e31"  # open_clip's hf_hub of ViT-B-16-plus-240 laion400m_e31
FIX = (
    "set method_options.winclip.weights to a local open_clip checkpoint "
    "(.safetensors/.pth/.bin file or a directory holding one)"
)


@pytest.fixture()
def empty_offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_auto_takes_the_papers_tag_else_open_clips_only_one() -> None:
    assert auto_tag("ViT-B-16-plus-240", ["laion400m_e31", "laion400m_e32"]) == "laion400m_e31"
    assert auto_tag("ViT-L-14-336-quickgelu", ["openai"]) == "openai"
    assert auto_tag("RN50-custom", ["only"]) == "only"
    assert auto_tag("ViT-B-16", ["openai", "laion400m_e31"]) is None


def test_open_clip_checkpoint_reads_open_clips_pretrained_config() -> None:
    checkpoint, _ = open_clip_checkpoint("ViT-B-16-plus-240")
    assert checkpoint is not None
    assert (checkpoint.library, checkpoint.model, checkpoint.repo_id) == (
        "open_clip",
        "ViT-B-16-plus-240 laion400m_e31",
        REPO,
    )
    assert checkpoint.filenames == ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    april, _ = open_clip_checkpoint("ViT-L-14-336-quickgelu")
    assert april is not None and april.repo_id == "timm/vit_large_patch14_clip_336.openai"


@pytest.mark.parametrize(
    ("model", "why"),
    [
        (
            "ViT-L-14-336",
            "open_clip's openai weights of ViT-L-14-336 need QuickGELU: set the option model to ViT-L-14-336-quickgelu",
        ),
        ("ViT-B-16", "weights: auto has no pretrained tag for ViT-B-16 (open_clip's tags: openai, laion400m_e31"),
        ("arch.json", "weights: auto needs an open_clip architecture name, not a model config file (arch.json)"),
    ],
)
def test_auto_refuses_what_it_cannot_pick_and_says_why(model: str, why: str) -> None:
    checkpoint, reason = open_clip_checkpoint(model)
    assert checkpoint is None and reason.startswith(why)


def test_without_the_switch_the_reason_names_it(empty_offline_cache: None) -> None:
    options = METHODS.get("winclip").Options()
    reason = METHODS.get("winclip").availability(options)
    assert reason == (
        "no local pretrained weights for ViT-B-16-plus-240 laion400m_e31 (weights: auto; not in the Hugging Face "
        f"cache): pass --allow-download (or ASEBENCH_ALLOW_DOWNLOAD=1) to download open_clip's, or {FIX}"
    )


def test_allowed_but_offline_says_the_download_was_tried(empty_offline_cache: None) -> None:
    reason = METHODS.get("winclip").availability(METHODS.get("winclip").Options(), allow_download=True)
    assert reason == (
        f"tried to download open_clip's pretrained weights for ViT-B-16-plus-240 laion400m_e31 ({REPO}, Hugging Face "
        f"hub) but it failed: offline (HF_HUB_OFFLINE is set; unset it to download); {FIX}"
    )


def test_allowed_downloads_open_clips_file_into_the_cache_then_reads_it_from_there(fake_hub: Any) -> None:
    payload = b"stand-in for open_clip_pytorch_model.bin"
    fake_hub.files[(REPO, "open_clip_pytorch_model.bin")] = payload  # no safetensors twin on this hub

    assert resolve_clip_weights("ViT-B-16-plus-240", "auto", "winclip")[0] is None  # off: no request
    assert not [path for path in fake_hub.requests if "/resolve/" in path]

    source, reason = resolve_clip_weights("ViT-B-16-plus-240", "auto", "winclip", allow_download=True)
    assert reason is None and source is not None and source.kind == "hf-download" and source.path is not None
    assert source.path.name == "open_clip_pytorch_model.bin" and source.path.read_bytes() == payload
    assert source.sha256() == hashlib.sha256(payload).hexdigest()
    asked = [path.rsplit("/", 1)[-1] for path in fake_hub.requests if "/resolve/" in path]
    assert asked[0] == "open_clip_model.safetensors" and asked[-1] == "open_clip_pytorch_model.bin"

    served = len(fake_hub.requests)
    cached, _ = resolve_clip_weights("ViT-B-16-plus-240", "auto", "winclip", allow_download=True)
    assert cached is not None and cached.kind == "hf-cache" and cached.path == source.path
    assert len(fake_hub.requests) == served
    assert METHODS.get("winclip").availability(METHODS.get("winclip").Options()) is None  # now local


def test_a_local_path_still_wins_over_auto(tmp_path: Path) -> None:
    checkpoint = tmp_path / "clip.safetensors"
    checkpoint.write_bytes(b"x")
    source, reason = resolve_clip_weights("ViT-B-16-plus-240", str(checkpoint), "winclip", allow_download=True)
    assert reason is None and source is not None and (source.kind, source.path) == ("file", checkpoint)
