"""Building an open_clip model from a checkpoint file, its pinned preprocessing, text/image encoding.

Weights are read by :func:`asebench.components.weights.read_state_dict`
(safetensors, or ``torch.load(weights_only=True)``), never by open_clip's own
loader: in open_clip 3.3.0 ``load_state_dict`` falls back to an unrestricted
``torch.load`` when ``weights_only`` raises ``TypeError``, and a pretrained
*tag* would trigger a download the run did not allow. ``weights: auto`` is a
file too, the one open_clip's tag names in the Hugging Face cache
(:mod:`asebench.methods._clip.pretrained`). The state dict then goes through the same key
conversions open_clip applies (third-party layouts, positional-embedding
resize) and is loaded with ``strict=True``; its sha256 goes into the record.

``weights: random`` builds the architecture with random initialisation under a
fixed seed (:data:`RANDOM_INIT_SEED`), so the same "random" model comes back in
every cell and every run; records say so and the numbers mean nothing.

Preprocessing is pinned and recorded: the whole image is resized (bicubic, no
crop: defects may sit near the border) to the model's square input size and
normalised with CLIP's mean/std, as WinCLIP does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asebench.api.data import Sample, file_sha256
from asebench.api.method import MethodContext, SplitView
from asebench.components.loaders import ImageDataset, Preprocessing, build_transform, make_loader
from asebench.methods._clip.feature_memo import FeatureMemo
from asebench.methods._clip.options import RANDOM_WEIGHTS, RANDOM_WEIGHTS_NOTE, ClipOptions

RANDOM_INIT_SEED = 0
WEIGHTS_LOADER = "asebench read_state_dict: safetensors or torch.load(weights_only=True); load_state_dict(strict=True)"


@dataclass(frozen=True)
class Architecture:
    """An open_clip model config and where it came from."""

    name: str
    config: dict[str, Any]
    config_sha256: str | None  # set for a config read from a JSON file


@dataclass
class ClipBundle:
    """A ready model with its tokenizer, preprocessing and provenance."""

    model: Any
    tokenizer: Callable[[list[str]], torch.Tensor]
    preprocessing: Preprocessing
    provenance: dict[str, Any]
    device: str
    cache_key: str

    text_memo: dict[str, torch.Tensor] = field(default_factory=dict)
    feature_memo: FeatureMemo = field(default_factory=FeatureMemo)

    @torch.inference_mode()
    def encode_text(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Projected text embeddings (N, E), float32, not normalised.

        Memoised per sentence for the life of the bundle (one run's cells share
        it): a 242-prompt ensemble through ViT-B-16-plus-240's text tower takes
        about a minute on 2 CPU cores, and every cell would otherwise redo it.
        """
        todo = list(dict.fromkeys(t for t in texts if t not in self.text_memo))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            embedded = encode_tokens(self.model, self.tokenizer(chunk).to(self.device)).float()
            self.text_memo.update(zip(chunk, embedded, strict=True))
        return torch.stack([self.text_memo[t] for t in texts])

    def loader(self, samples: Sequence[Sample], batch_size: int, context: MethodContext) -> Any:
        """Batches of preprocessed images (in sample order) for ``samples``."""
        dataset = ImageDataset(tuple(samples), None, build_transform(self.preprocessing, None))
        return make_loader(dataset, batch_size, self.device, context.num_workers)

    @torch.inference_mode()
    def encode_images(
        self, samples: Sequence[Sample], batch_size: int, context: MethodContext, what: str = "CLIP images"
    ) -> np.ndarray:
        """Projected image embeddings (N, E), float32, not normalised (float16 autocast on CUDA when AMP is on)."""
        loader = self.loader(samples, batch_size, context)
        out = []
        for step, (images, _) in enumerate(loader, start=1):
            with torch.autocast(
                device_type="cuda", dtype=torch.float16, enabled=context.amp and self.device.startswith("cuda")
            ):
                out.append(self.model.encode_image(images.to(self.device)).float().cpu().numpy())
            context.progress(what, step, len(loader))
        return np.concatenate(out) if out else np.zeros((0, self.embed_dim), dtype=np.float32)

    @property
    def embed_dim(self) -> int:
        return int(self.provenance["embed_dim"])


def encode_tokens(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text(tokens)``, computed on the prompts' length instead of the full context.

    A plain CLIP text tower is causal and pools at the end-of-text token (the
    largest id, ``argmax`` pooling), so the positions after the longest prompt's
    end-of-text token never reach the pooled output. WinCLIP's prompts are about
    12-20 tokens of a 77-token context: running only those positions gives the
    same embeddings (up to float rounding; tested) in about a quarter of the
    time. Any other text tower (HF text models, other pooling, no causal mask)
    goes through ``encode_text`` unchanged.
    """
    if getattr(model, "text_pool_type", None) != "argmax" or getattr(model, "attn_mask", None) is None:
        return model.encode_text(tokens)
    length = int(tokens.argmax(dim=-1).max()) + 1
    tokens = tokens[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def resolve_architecture(model: str) -> Architecture:
    """An architecture name known to open_clip, or a model-config JSON file."""
    import open_clip

    if model.endswith(".json"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"open_clip model config not found: {path} (option model)")
        config = json.loads(path.read_text(encoding="utf-8"))
        config = config.get("model_cfg", config)
        missing = [key for key in ("embed_dim", "vision_cfg", "text_cfg") if key not in config]
        if missing:
            raise ValueError(f"{path} is not an open_clip model config: missing {', '.join(missing)}")
        return Architecture(path.stem, config, file_sha256(path))
    if model.startswith(("hf-hub:", "local-dir:")):
        raise ValueError(
            f"option model {model!r}: schemas are not supported; give an architecture name or a config JSON path"
        )
    config = open_clip.get_model_config(model)
    if config is None:
        raise ValueError(
            f"unknown open_clip architecture {model!r} (option model); e.g. ViT-B-16-plus-240, ViT-B-16, or a config JSON path"
        )
    return Architecture(model, config, None)


def build_model(arch: Architecture, image_size: int | None) -> Any:
    """The architecture with random weights drawn under :data:`RANDOM_INIT_SEED` (same model every time)."""
    from open_clip.model import CLIP, CustomTextCLIP

    config = copy.deepcopy(arch.config)
    if (
        any(key in config["text_cfg"] for key in ("hf_model_name", "hf_tokenizer_name"))
        or "timm_model_name" in config["vision_cfg"]
        or "multimodal_cfg" in config
    ):
        raise ValueError(
            f"open_clip architecture {arch.name!r} needs Hugging Face or timm towers; only plain open_clip CLIP models are supported offline"
        )
    if image_size is not None:
        config["vision_cfg"]["image_size"] = image_size
    model_class = CustomTextCLIP if config.pop("custom_text", False) else CLIP
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        return model_class(**config)


def load_weights(model: Any, path: Path) -> None:
    """Load a local checkpoint safely into ``model`` (see the module docstring)."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict, resize_pos_embed, resize_text_pos_embed

    from asebench.components.weights import read_state_dict

    try:
        state = read_state_dict(path)
    except Exception as exc:  # TorchScript archives (OpenAI .pt) and pickles with code are refused
        raise ValueError(
            f"cannot read {path} as a plain state dict with safe loading ({type(exc).__name__}: {exc}); "
            "convert it to .safetensors or a weights-only .pth state dict"
        ) from exc
    state = convert_state_dict(model, state)
    if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for key in ("logit_scale", "logit_bias"):
        target = getattr(model, key, None)
        if key in state and target is not None and state[key].ndim != target.ndim:
            state[key] = state[key].reshape(target.shape)
    resize_pos_embed(state, model)
    resize_text_pos_embed(state, model)
    model.load_state_dict(state, strict=True)


def tokenizer_for(arch: Architecture, context_length: int) -> Callable[[list[str]], torch.Tensor]:
    """open_clip's bundled BPE tokenizer for plain CLIP text towers (no download)."""
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context_length, **arch.config["text_cfg"].get("tokenizer_kwargs", {}))


_BUNDLES: dict[str, ClipBundle] = {}
_SHA256: dict[tuple[str, int, int], str] = {}


def weights_sha256(path: Path) -> str:
    """sha256 of a checkpoint, cached per (path, size, mtime) so every cell does not re-hash a large file."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        _SHA256[key] = file_sha256(path)
    return _SHA256[key]


def load_clip(options: ClipOptions, device: str, allow_download: bool = False) -> ClipBundle:
    """Build (or reuse from this process) the model ``options`` describe, on ``device``, in eval mode.

    ``allow_download`` is the run's switch (``MethodContext.allow_download``) for ``weights: auto``.
    """
    import open_clip
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    from asebench.api.errors import MethodUnavailable
    from asebench.methods._clip.pretrained import resolve_clip_weights

    arch = resolve_architecture(options.model)
    path: Path | None = None
    sha256: str | None = None
    source_kind, source_description = "random", RANDOM_WEIGHTS_NOTE
    if options.weights != RANDOM_WEIGHTS:
        source, reason = resolve_clip_weights(options.model, options.weights, allow_download=allow_download)
        if source is None or source.path is None:
            raise MethodUnavailable(reason or f"cannot resolve weights {options.weights}")
        path, source_kind, source_description = source.path, source.kind, source.description
        sha256 = weights_sha256(path)
    key = json.dumps([arch.name, arch.config_sha256, sha256 or RANDOM_WEIGHTS, options.image_size, device])
    if key in _BUNDLES:
        return _BUNDLES[key]
    model = build_model(arch, options.image_size)
    if path is not None:
        load_weights(model, path)
    model = model.eval().requires_grad_(False).to(device)
    visual = model.visual
    size = visual.image_size if hasattr(visual, "image_size") else (arch.config["vision_cfg"]["image_size"],) * 2
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if size[0] != size[1]:
        raise ValueError(f"{arch.name}: only square inputs are supported, got {size}")
    preprocessing = Preprocessing(
        size=int(size[0]), interpolation="bicubic", mean=tuple(OPENAI_DATASET_MEAN), std=tuple(OPENAI_DATASET_STD)
    )
    provenance: dict[str, Any] = {
        "open_clip_version": open_clip.__version__,
        "architecture": arch.name,
        "architecture_config_sha256": arch.config_sha256,
        "weights": source_kind,  # random, file, hf-cache or hf-download
        "weights_description": source_description,
        "weights_path": None if path is None else str(path),
        "weights_sha256": sha256,
        "weights_loader": f"random init, torch seed {RANDOM_INIT_SEED}" if path is None else WEIGHTS_LOADER,
        "preprocessing": {**preprocessing.as_dict(), "crop": "none (whole image resized to a square)"},
        "embed_dim": int(arch.config["embed_dim"]),
        "patch_size": getattr(visual, "patch_size", None),
        "grid_size": getattr(visual, "grid_size", None),
    }
    if path is None:
        provenance["weights_note"] = RANDOM_WEIGHTS_NOTE
    context_length = int(arch.config["text_cfg"].get("context_length", 77))
    bundle = ClipBundle(model, tokenizer_for(arch, context_length), preprocessing, provenance, device, key)
    _BUNDLES.clear()  # keep one model in memory: cells of a run use the same one, and they are large
    _BUNDLES[key] = bundle
    return bundle


def feature_cache_key(bundle: ClipBundle, split: SplitView) -> Any:
    """The :class:`FeatureKey` of CLIP image embeddings: architecture, weights sha256, preprocessing."""
    from asebench.components.feature_cache import FeatureKey

    prov = bundle.provenance
    model = f"open_clip:{prov['architecture']}" + (
        f"@{prov['architecture_config_sha256'][:16]}" if prov["architecture_config_sha256"] else ""
    )
    weights = prov["weights_sha256"] or f"random-init-seed{RANDOM_INIT_SEED}"
    preprocessing = {**prov["preprocessing"], "feature": "encode_image: projected embedding, not normalised"}
    return FeatureKey(model, weights, preprocessing, split.dataset_fingerprint)


def cached_image_features(
    bundle: ClipBundle, split: SplitView, batch_size: int, context: MethodContext
) -> tuple[np.ndarray, int, str]:
    """Image embeddings of a split through the shared feature cache: (features, computed, cache file)."""
    from asebench.components.feature_cache import FeatureCache, cache_batch_size

    cache = FeatureCache(context.cache_dir, feature_cache_key(bundle, split))
    fill_batch = cache_batch_size(batch_size, context.device)
    features, computed = cache.get(
        split.samples, lambda samples: bundle.encode_images(samples, fill_batch, context), device=context.device
    )
    return features, computed, cache.path.name


def text_prototypes(bundle: ClipBundle, prompt_lists: Sequence[Sequence[str]], variant: str) -> torch.Tensor:
    """One L2-normalised prototype per prompt list (C, E), by the chosen normalisation variant.

    ``normalise-mean-normalise`` (default, mala-lab / APRIL-GAN): normalise each
    prompt embedding, average, normalise. ``mean-normalise`` (anomalib): average
    the raw embeddings, then normalise.
    """
    flat = [text for prompts in prompt_lists for text in prompts]
    embeddings = bundle.encode_text(flat)
    return prototypes_from_embeddings(embeddings, [len(p) for p in prompt_lists], variant)


def prototypes_from_embeddings(embeddings: torch.Tensor, counts: Sequence[int], variant: str) -> torch.Tensor:
    """Split (sum(counts), E) prompt embeddings into groups and reduce each to a unit prototype."""
    if variant not in ("normalise-mean-normalise", "mean-normalise"):
        raise ValueError(f"unknown prototype variant {variant!r}")
    if variant == "normalise-mean-normalise":
        embeddings = torch.nn.functional.normalize(embeddings, dim=-1)
    groups = torch.split(embeddings, list(counts))
    return torch.nn.functional.normalize(torch.stack([g.mean(dim=0) for g in groups]), dim=-1)
