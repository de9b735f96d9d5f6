"""Reading checkpoints: safetensors as they are, pickles only through safe deserialisation."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

import timm
import torch

from asebench.components.weights import read_state_dict


def test_safetensors_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in timm.create_model("resnet18", num_classes=2).state_dict().items()}
    path = tmp_path / "r18.safetensors"
    save_file(state, str(path))
    loaded = read_state_dict(path)
    assert loaded.keys() == state.keys()
    assert torch.equal(loaded["conv1.weight"], state["conv1.weight"])


class _Payload:
    """Unpickling this object runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".bin"])
def test_a_malicious_checkpoint_never_executes_code(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "code-ran.txt"
    path = tmp_path / f"evil{suffix}"
    torch.save({"conv1.weight": torch.zeros(1), "evil": _Payload(marker)}, path)

    with pytest.raises(pickle.UnpicklingError):
        read_state_dict(path)
    assert not marker.exists()

    # the same file does run code under an unsafe load: the payload is real
    torch.load(path, map_location="cpu", weights_only=False)
    assert marker.read_text() == "pwned"
