"""Zero-shot class prototypes: one text prototype per class and object, and the logits they give.

Shared by ``clip-zeroshot`` (every class) and ``winclip`` (normal/anomalous, and
the defect types of its two-stage multiclass rule). Samples of different
objects (MVTec/VisA with several categories) get prototypes built with their
own object name; a class that belongs to another category
(``bottle/broken_large`` for a ``cable`` image) gets probability 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from asebench.api.data import Sample
from asebench.methods._clip.model import ClipBundle, text_prototypes
from asebench.methods._clip.prompts import PromptConfig, class_category, object_name_of, resolve_states, sentences


@dataclass
class ClassPrototypes:
    """Unit prototypes (C, E) per object name, for ``class_names`` in order."""

    class_names: tuple[str, ...]
    by_object: dict[str, torch.Tensor] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    prompts_per_class: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "classes": list(self.class_names),
            "objects": sorted(self.by_object),
            "state_sources": self.sources,
            "prompts_per_class": self.prompts_per_class,
            "example_prompt": self.examples,
        }


def build_prototypes(
    bundle: ClipBundle,
    class_names: Sequence[str],
    normal_class: str | None,
    config: PromptConfig,
    objects: Sequence[str],
    variant: str,
    binary: bool = False,
    descriptions: Mapping[str, Sequence[str]] | None = None,
) -> ClassPrototypes:
    """Encode every class's prompt ensemble once per object name (raises PromptsNotApplicable)."""
    states = resolve_states(class_names, normal_class, config, descriptions, binary)
    result = ClassPrototypes(tuple(class_names))
    for name in class_names:
        result.sources[name] = states[name][1]
        result.prompts_per_class[name] = len(states[name][0]) * len(config.templates)
    for obj in sorted(set(objects)):
        lists = [sentences(states[name][0], obj, config.templates) for name in class_names]
        result.examples.setdefault("object", obj)
        for name, prompts in zip(class_names, lists, strict=True):
            result.examples.setdefault(name, prompts[0])
        result.by_object[obj] = text_prototypes(bundle, lists, variant)
    return result


def sample_objects(samples: Sequence[Sample], config: PromptConfig) -> list[str]:
    return [object_name_of(sample.metadata, config) for sample in samples]


def class_logits(
    image_embeddings: torch.Tensor,
    samples: Sequence[Sample],
    prototypes: ClassPrototypes,
    config: PromptConfig,
    temperature: float,
) -> np.ndarray:
    """(N, C) logits cos/tau of unit image embeddings; -inf for classes of another category."""
    objects = sample_objects(samples, config)
    logits = np.zeros((len(samples), len(prototypes.class_names)))
    for obj in set(objects):
        rows = [i for i, o in enumerate(objects) if o == obj]
        protos = prototypes.by_object[obj].to(image_embeddings.device)
        logits[rows] = (image_embeddings[rows] @ protos.T / temperature).double().cpu().numpy()
    categories = [class_category(name) for name in prototypes.class_names]
    if any(c is not None for c in categories):
        for i, sample in enumerate(samples):
            own = sample.metadata.get("category")
            for j, category in enumerate(categories):
                if category is not None and own is not None and category != own:
                    logits[i, j] = -np.inf
    return logits


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
