"""``weights: auto`` of the CLIP methods: open_clip's pretrained tag, from the Hugging Face cache.

open_clip names, per architecture and pretrained tag, a Hugging Face hub repo
(``hf_hub`` of ``open_clip.get_pretrained_cfg``). ``auto`` takes the tag the
papers use (:data:`AUTO_TAGS`: WinCLIP's ``laion400m_e31`` for
ViT-B-16-plus-240, OpenAI's for ViT-L-14-336-quickgelu), or the only tag
open_clip has for another architecture, and finds that checkpoint in the local
Hugging Face cache. When the run allows downloads (``--allow-download``) and
the cache lacks it, it is fetched there with huggingface_hub, as
``open_clip.create_model(name, pretrained=tag)`` would fetch it. Either way the
file is then read by our safe loader (:func:`asebench.methods._clip.model.load_weights`),
never by open_clip's, and its path and sha256 go into the record.

open_clip's tags and hub files are read without importing open_clip (and so
torch) where it is not loaded yet: the planner of a run resolves ``auto`` for
every CLIP method but runs no model
(:mod:`asebench.components.library_facts`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from asebench.components.library_facts import library_facts

if TYPE_CHECKING:
    from asebench.components.weights import HubCheckpoint, WeightsSource

AUTO_WEIGHTS = "auto"
AUTO_TAGS = {"ViT-B-16-plus-240": "laion400m_e31", "ViT-L-14-336-quickgelu": "openai"}
OPEN_CLIP_PICKLE = "open_clip_pytorch_model.bin"  # open_clip's default hub file names
OPEN_CLIP_SAFETENSORS = "open_clip_model.safetensors"


def weights_fix(method_name: str | None) -> str:
    """How to give a CLIP method weights by hand, in the words of its config key."""
    key = f"method_options.{method_name}.weights" if method_name else "the method's option weights"
    return f"set {key} to a local open_clip checkpoint (.safetensors/.pth/.bin file or a directory holding one)"


def resolve_clip_weights(
    model: str, weights: str, method_name: str | None = None, allow_download: bool = False
) -> tuple[WeightsSource | None, str | None]:
    """A CLIP method's weights: a local path as given, or ``auto`` (cache, then a download if allowed)."""
    from asebench.components.weights import DOWNLOAD_SWITCH, resolve_weights

    if weights != AUTO_WEIGHTS:
        return resolve_weights(model, weights)
    fix = weights_fix(method_name)
    checkpoint, reason = open_clip_checkpoint(model)
    if checkpoint is None:
        return None, f"{reason}; {fix}"
    cached = checkpoint.cached()
    if cached is not None:
        return cached, None
    if allow_download:
        return checkpoint.download(fix)
    return None, (
        f"no local pretrained weights for {checkpoint.model} (weights: auto; not in the Hugging Face cache): "
        f"pass {DOWNLOAD_SWITCH} to download open_clip's, or {fix}"
    )


def auto_tag(model: str, tags: list[str]) -> str | None:
    """The pretrained tag ``auto`` means for ``model``: the papers' one, else open_clip's only one."""
    paper = AUTO_TAGS.get(model)
    if paper in tags:
        return paper
    return tags[0] if len(tags) == 1 else None


def open_clip_checkpoint(model: str) -> tuple[HubCheckpoint | None, str]:
    """The hub checkpoint of ``model``'s ``auto`` tag, or (None, why there is none)."""
    if model.endswith(".json"):
        return None, f"weights: auto needs an open_clip architecture name, not a model config file ({model})"
    from asebench.components.weights import HubCheckpoint, safetensors_first

    producer = f"{__name__}:open_clip_facts"
    entry = library_facts("open_clip_torch", "open_clip", producer, [model], also=list(AUTO_TAGS))[model]
    tags = list(entry["tags"])
    tag = auto_tag(model, tags)
    if tag is None:
        listed = ", ".join(tags) if tags else "none"
        return None, f"weights: auto has no pretrained tag for {model} (open_clip's tags: {listed})"
    config = entry["pretrained"][tag]
    if config["quick_gelu"] and not entry["quick_gelu"]:
        return None, f"open_clip's {tag} weights of {model} need QuickGELU: set the option model to {model}-quickgelu"
    hub = config["hf_hub"]
    if not hub:
        return None, f"open_clip's {tag} weights of {model} are not on the Hugging Face hub"
    repo, filename = os.path.split(hub)  # "org/name/" (default file names) or "org/name/file"
    names = safetensors_first(filename or OPEN_CLIP_PICKLE, {OPEN_CLIP_PICKLE: OPEN_CLIP_SAFETENSORS})
    return HubCheckpoint("open_clip", f"{model} {tag}", repo, names), ""


def open_clip_facts(models: list[str]) -> dict[str, Any]:
    """Per model: open_clip's pretrained ``tags``, each tag's ``hf_hub`` and ``quick_gelu``, and the model's ``quick_gelu``.

    Imports open_clip; :func:`open_clip_checkpoint` reads it through
    :func:`~asebench.components.library_facts.library_facts`, so a process
    without open_clip loaded never imports it for this.
    """
    import open_clip

    known = set(open_clip.list_models())
    facts: dict[str, Any] = {}
    for model in models:
        tags = list(open_clip.list_pretrained_tags_by_model(model))
        pretrained = {}
        for tag in tags:
            config = open_clip.get_pretrained_cfg(model, tag)
            pretrained[tag] = {"hf_hub": str(config.get("hf_hub") or ""), "quick_gelu": bool(config.get("quick_gelu"))}
        model_config = open_clip.get_model_config(model) if model in known else None
        facts[model] = {
            "tags": tags,
            "pretrained": pretrained,
            "quick_gelu": bool((model_config or {}).get("quick_gelu")),
        }
    return facts
