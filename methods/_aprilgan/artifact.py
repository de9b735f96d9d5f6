"""The trained APRIL-GAN adapter as a content-addressed artifact: trained once, stored, reused, named in records.

Layout under the run's cache (``MethodContext.cache_dir``)::

    april-gan/adapters/<sha256>.safetensors      the linear maps (keys fc.<i>.weight / fc.<i>.bias)
    april-gan/adapters/index/<identity>.json     what produced it -> its sha256

``identity`` is a hash of everything the weights depend on: the backbone
(architecture, config hash, weights sha256 or the random-init seed, input
size), the stages, the auxiliary data (dataset fingerprint and the exact
samples used), the text prompts, the training options and the seed. A cell
whose identity is in the index and whose file still hashes to the recorded
sha256 loads it instead of training; otherwise it trains, writes the file
atomically under its own sha256 and then the index entry. A file lock orders
parallel workers, so one trains and the others load. Files are read with
safetensors only (no pickle).

A released APRIL-GAN checkpoint (a torch pickle ``{"trainable_linearlayer":
state_dict}``) is converted once by :func:`convert_checkpoint`, which reads it
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from asebench.api.data import file_sha256
from asebench.methods._aprilgan.core import StageAdapter, april_gan_loss, stage_probabilities
from asebench.store.atomic import atomic_write_bytes, atomic_write_json, file_lock
from asebench.store.hashing import stable_hash

ADAPTER_FORMAT = "asebench-april-gan-adapter-v1"
ADAM_BETAS = (0.5, 0.999)  # APRIL-GAN's train.py
KEY = re.compile(r"^fc\.(\d+)\.(weight|bias)$")

# (stage tokens [(B, L, width)], prototypes (B, 2, E), masks (B, S, S)) of the given training rows
Fetch = Callable[[list[int]], tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class StoredAdapter:
    path: Path
    sha256: str


@dataclass
class TrainingLog:
    steps: int = 0
    epoch_losses: list[float] = field(default_factory=list)


def adapter_store(cache_dir: Path) -> Path:
    return Path(cache_dir) / "april-gan" / "adapters"


def identity_name(identity: Mapping[str, Any]) -> str:
    return stable_hash(dict(identity), length=32)


def lookup(store: Path, identity: Mapping[str, Any]) -> StoredAdapter | None:
    """The stored adapter of ``identity`` if its index entry exists and its file still has the recorded sha256."""
    index = store / "index" / f"{identity_name(identity)}.json"
    if not index.is_file():
        return None
    entry = json.loads(index.read_text(encoding="utf-8"))
    path = store / f"{entry['sha256']}.safetensors"
    if not path.is_file() or file_sha256(path) != entry["sha256"]:
        return None
    return StoredAdapter(path, str(entry["sha256"]))


def state_bytes(state: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().float().cpu().contiguous() for k, v in state.items()}, metadata=dict(metadata))


def store_adapter(store: Path, identity: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> StoredAdapter:
    """Write the weights under their sha256 (atomically), then the index entry that points at them."""
    data = state_bytes(state, {"format": ADAPTER_FORMAT, "identity": json.dumps(identity, sort_keys=True)})
    sha256 = hashlib.sha256(data).hexdigest()
    path = store / f"{sha256}.safetensors"
    if not path.is_file() or file_sha256(path) != sha256:  # absent, or damaged since: (re)write it
        atomic_write_bytes(path, data)
    atomic_write_json(
        store / "index" / f"{identity_name(identity)}.json", {"sha256": sha256, "file": path.name, "identity": identity}
    )
    return StoredAdapter(path, sha256)


def obtain_adapter(
    cache_dir: Path, identity: Mapping[str, Any], train: Callable[[], Mapping[str, torch.Tensor]]
) -> tuple[StoredAdapter, bool]:
    """(the adapter of ``identity``, whether it was trained now): load it from the cache, else train and store it."""
    store = adapter_store(cache_dir)
    with file_lock(store / "index" / f"{identity_name(identity)}.lock"):
        found = lookup(store, identity)
        if found is not None:
            return found, False
        return store_adapter(store, identity, train()), True


def load_adapter_state(path: Path) -> dict[str, torch.Tensor]:
    """Read adapter weights with safetensors (never a pickle) and check the key layout."""
    from safetensors.torch import load_file

    path = Path(path).expanduser()
    if path.suffix != ".safetensors":
        raise ValueError(
            f"adapter {path}: only .safetensors files are loaded; convert a released .pth checkpoint with "
            "`python bench/april_gan_published.py --convert IN.pth OUT.safetensors` (reads it with weights_only=True)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"adapter file not found: {path} (option adapter)")
    state = dict(load_file(str(path)))
    if not state or any(KEY.match(k) is None for k in state):
        raise ValueError(f"adapter {path}: expected keys fc.<i>.weight / fc.<i>.bias, got {sorted(state)[:4]}")
    return state


def adapter_from_state(state: Mapping[str, torch.Tensor], width: int, embed_dim: int, stages: int) -> StageAdapter:
    """A :class:`StageAdapter` with ``state`` loaded strictly; shapes must match the backbone and the stages."""
    found = len({KEY.match(k).group(1) for k in state})  # type: ignore[union-attr]
    if found != stages:
        raise ValueError(f"adapter has {found} linear maps but {stages} stages are used (option stages)")
    adapter = StageAdapter(width, embed_dim, stages)
    expected = {k: tuple(v.shape) for k, v in adapter.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items()}
    if expected != given:
        raise ValueError(
            f"adapter shapes {given} do not fit this backbone (width {width} -> embed dim {embed_dim}): {expected}"
        )
    adapter.load_state_dict(dict(state), strict=True)
    return adapter


def convert_checkpoint(source: Path, target: Path) -> str:
    """Released APRIL-GAN ``.pth`` -> ``.safetensors`` (read with ``torch.load(weights_only=True)``); its sha256."""
    state: Any = torch.load(Path(source).expanduser(), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("trainable_linearlayer"), dict):
        state = state["trainable_linearlayer"]
    if not isinstance(state, dict) or not state or any(KEY.match(str(k)) is None for k in state):
        raise ValueError(f"{source} is not an APRIL-GAN checkpoint (expected trainable_linearlayer: fc.<i>.* tensors)")
    data = state_bytes(state, {"format": ADAPTER_FORMAT, "converted_from": Path(source).name})
    atomic_write_bytes(Path(target).expanduser(), data)
    return hashlib.sha256(data).hexdigest()


def train_adapter(
    fetch: Fetch,
    count: int,
    shape: tuple[int, int, int],
    *,
    grid: tuple[int, int],
    size: int,
    temperature: float,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    gamma: float,
    seed: int,
    device: str,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[dict[str, torch.Tensor], TrainingLog]:
    """Train the per-stage linear maps (``shape`` = width, embed dim, stages) with focal + Dice; backbone frozen.

    Adam (lr, betas 0.5/0.999), ``epochs`` passes over the ``count`` training
    rows in a seeded shuffle, batches of ``batch_size``; the init and the order
    depend on ``seed`` only.
    """
    width, embed_dim, stages = shape
    log = TrainingLog()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adapter = StageAdapter(width, embed_dim, stages).to(device)
    order = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(adapter.parameters(), lr=learning_rate, betas=ADAM_BETAS)
    batches = (count + batch_size - 1) // batch_size
    for epoch in range(epochs):
        permutation = torch.randperm(count, generator=order).tolist()
        total = 0.0
        for step in range(batches):
            rows = permutation[step * batch_size : (step + 1) * batch_size]
            tokens, prototypes, masks = fetch(rows)
            with torch.enable_grad():
                probabilities = stage_probabilities(
                    adapter([t.float() for t in tokens]), prototypes.float(), grid, size, temperature
                )
                loss = april_gan_loss(probabilities, masks.float(), gamma)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"april-gan adapter training: loss {float(loss)} at epoch {epoch + 1}")
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            total += float(loss.detach()) * len(rows)
            log.steps += 1
            if progress is not None:
                progress("april-gan adapter training", epoch * batches + step + 1, epochs * batches)
        log.epoch_losses.append(total / max(count, 1))
    return {k: v.detach().cpu() for k, v in adapter.state_dict().items()}, log


def adapter_identity(method: Any, train: Any, rows: list[int]) -> dict[str, Any]:
    """Everything the adapter weights depend on: the artifact's cache key (see the module docstring)."""
    from asebench.methods._clip.model import RANDOM_INIT_SEED

    options = method.options
    prov = method.bundle.provenance
    return {
        "format": ADAPTER_FORMAT,
        "backbone": {
            "architecture": prov["architecture"],
            "architecture_config_sha256": prov["architecture_config_sha256"],
            "weights_sha256": prov["weights_sha256"] or f"random-init-seed{RANDOM_INIT_SEED}",
            "input_size": method.size,
        },
        "stages": method.stages,
        "auxiliary": {
            "dataset": train.dataset_name,
            "fingerprint": train.dataset_fingerprint,
            "rows": len(rows),
            "rows_sha256": rows_digest(
                [train.samples[i].id for i in rows], [int(train.labels[i] != train.normal_index) for i in rows]
            ),
        },
        "text": {
            "templates": list(method.prompts.templates),
            "states": {k: list(v) for k, v in method.prompts.class_states.items()},
            "file_states": {k: list(v) for k, v in method.prompts.file_states.items()},
            "object_name": method.prompts.object_name,
            "replace_underscores": method.prompts.replace_underscores,
            "prototype": options.prototype,
        },
        "training": {
            "epochs": options.epochs,
            "learning_rate": options.learning_rate,
            "adam_betas": list(ADAM_BETAS),
            "batch_size": options.train_batch_size,
            "loss": f"focal(gamma={options.gamma}) + dice, summed over stages",
            "temperature": options.temperature,
            "loss_resolution": method.size,
        },
        "seed": method.context.seed,
    }


def rows_digest(ids: Sequence[str], labels: Sequence[int]) -> str:
    """sha256 of the training rows (sorted id + label): which auxiliary samples an adapter saw."""
    text = "\n".join(f"{i}\t{label}" for i, label in sorted(zip(ids, labels, strict=True)))
    return hashlib.sha256(text.encode()).hexdigest()
