"""Prompt ensembles: WinCLIP's compositional prompts and per-class defect-type prompts.

A *state* is a noun phrase in which ``{}`` stands for the object name
(``"{} with flaw"``); a *template* wraps a state into a sentence (``"a photo of
a {}."``). A class's prompts are every state filled with the object name,
wrapped by every template (WinCLIP's compositional ensemble: 7 normal and 4 anomalous
states x 22 templates = 154 + 88 prompts).

Where a class's states come from, first match wins:

1. the ``class_prompts`` option (class -> list of states);
2. the ``prompts_file`` YAML (safe-loaded), either ``{class: [states]}`` or
   ``{classes: {class: [states]}, templates: [...], object_name: ...}``;
3. per-class descriptions supplied with the data (when the data carries them);
4. defaults: the normal class (and ``normal`` in the binary task) gets
   WinCLIP's normal states, the binary ``defect`` class its anomalous states,
   and a named defect type ``t`` gets ``{} with t``, ``{} with t defect``,
   ``{} with t flaw``, ``{} with t damage`` (caoyunkang/PromptAD style).

Anonymous class names (``type1``, ``class_3``, ``7``) carry nothing a text
encoder can match; without prompts for them :func:`resolve_states` raises
:class:`PromptsNotApplicable` (the record says "not applicable",
not a near-chance number). A phrase without ``{}`` is used as the state as-is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NORMAL_STATES = (
    "{}",
    "flawless {}",
    "perfect {}",
    "unblemished {}",
    "{} without flaw",
    "{} without defect",
    "{} without damage",
)
ANOMALOUS_STATES = ("damaged {}", "{} with flaw", "{} with defect", "{} with damage")
TEMPLATES = (
    "a cropped photo of the {}.",
    "a cropped photo of a {}.",
    "a close-up photo of a {}.",
    "a close-up photo of the {}.",
    "a bright photo of a {}.",
    "a bright photo of the {}.",
    "a dark photo of the {}.",
    "a dark photo of a {}.",
    "a jpeg corrupted photo of a {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of the {}.",
    "a blurry photo of a {}.",
    "a photo of a {}.",
    "a photo of the {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of the {} for visual inspection.",
    "a photo of a {} for visual inspection.",
    "a photo of the {} for anomaly detection.",
    "a photo of a {} for anomaly detection.",
)
# APRIL-GAN (Chen et al., 2023): WinCLIP's anomalous states plus "broken {}", wrapped by CLIP's 35 ImageNet
# templates (the list of ByChelsea/VAND-APRIL-GAN prompt_ensemble.py, in its order)
APRIL_GAN_ANOMALOUS_STATES = (*ANOMALOUS_STATES, "broken {}")
CLIP_TEMPLATES = (
    "a bad photo of a {}.",
    "a low resolution photo of the {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a bright photo of a {}.",
    "a dark photo of the {}.",
    "a photo of my {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a photo of one {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "a low resolution photo of a {}.",
    "a photo of a large {}.",
    "a blurry photo of a {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a photo of the small {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "a dark photo of a {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "there is a {} in the scene.",
    "there is the {} in the scene.",
    "this is a {} in the scene.",
    "this is the {} in the scene.",
    "this is one {} in the scene.",
)
DEFECT_TYPE_STATES = ("{{}} with {t}", "{{}} with {t} defect", "{{}} with {t} flaw", "{{}} with {t} damage")
DEFAULT_OBJECT = "object"
BINARY_DEFECT_CLASS = "defect"
ANONYMOUS_CLASS = re.compile(r"^(type|class|cls|label|defect|category|kind|c)?[\s_-]?\d+$", re.IGNORECASE)


class PromptsNotApplicable(ValueError):
    """Class names with no meaning for a text encoder and no prompts given for them."""


@dataclass(frozen=True)
class PromptConfig:
    """Everything the options and a prompts file say about prompts, merged."""

    class_states: Mapping[str, Sequence[str]] = field(default_factory=dict)
    file_states: Mapping[str, Sequence[str]] = field(default_factory=dict)
    templates: Sequence[str] = TEMPLATES
    object_name: str | None = None
    replace_underscores: bool = True
    sources: Mapping[str, str] = field(default_factory=dict)


def load_prompts_file(path: Path) -> dict[str, Any]:
    """Read a prompts YAML with the safe loader and normalise it to {classes, templates, object_name}."""
    import yaml

    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read prompts_file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"prompts_file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"prompts_file {path} must hold a mapping (class -> list of phrases)")
    structured = any(key in data for key in ("classes", "templates", "object_name"))
    classes = data.get("classes", {}) if structured else data
    unknown = set(data) - {"classes", "templates", "object_name"} if structured else set()
    if unknown:
        raise ValueError(f"prompts_file {path}: unknown key(s) {', '.join(sorted(unknown))}")
    if not isinstance(classes, dict) or not all(_is_phrase_list(v) for v in classes.values()):
        raise ValueError(f"prompts_file {path}: every class must map to a list of phrases")
    templates = data.get("templates") if structured else None
    if templates is not None and not (_is_phrase_list(templates) and all("{}" in t for t in templates)):
        raise ValueError(f"prompts_file {path}: templates must be a list of strings that each contain '{{}}'")
    object_name = data.get("object_name") if structured else None
    if object_name is not None and not isinstance(object_name, str):
        raise ValueError(f"prompts_file {path}: object_name must be a string")
    return {
        "classes": {str(k): list(v) for k, v in classes.items()},
        "templates": templates,
        "object_name": object_name,
    }


def _is_phrase_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, str) and item.strip() for item in value)


def prompt_config(options: Any) -> PromptConfig:
    """Merge a :class:`~asebench.methods._clip.options.ClipPromptOptions` with its prompts file."""
    from_file = (
        load_prompts_file(options.prompts_file)
        if options.prompts_file is not None
        else {"classes": {}, "templates": None, "object_name": None}
    )
    templates = options.templates or from_file["templates"] or TEMPLATES
    bad = [t for t in templates if "{}" not in t]
    if bad:
        raise ValueError(f"option templates: {bad[0]!r} has no '{{}}' for the state")
    for name, states in options.class_prompts.items():
        if not _is_phrase_list(states):
            raise ValueError(f"option class_prompts.{name}: give a non-empty list of phrases")
    return PromptConfig(
        class_states=dict(options.class_prompts),
        file_states=from_file["classes"],
        templates=tuple(templates),
        object_name=options.object_name or from_file["object_name"],
        replace_underscores=options.replace_underscores,
    )


def humanise(name: str, replace_underscores: bool = True) -> str:
    """``metal_nut`` -> ``metal nut`` (mala-lab's choice; anomalib keeps the underscores)."""
    return name.replace("_", " ").replace("-", " ").strip() if replace_underscores else name


def defect_name(class_name: str) -> str:
    """The defect part of a class name: ``bottle/broken_large`` -> ``broken_large``."""
    return class_name.rsplit("/", 1)[-1]


def is_anonymous(class_name: str) -> bool:
    return bool(ANONYMOUS_CLASS.match(defect_name(class_name).strip()))


def resolve_states(
    class_names: Sequence[str],
    normal_class: str | None,
    config: PromptConfig,
    descriptions: Mapping[str, Sequence[str]] | None = None,
    binary: bool = False,
) -> dict[str, tuple[tuple[str, ...], str]]:
    """Class -> (states, where they came from); see the module docstring for the order."""
    resolved: dict[str, tuple[tuple[str, ...], str]] = {}
    anonymous: list[str] = []
    for name in class_names:
        if name in config.class_states:
            resolved[name] = (tuple(config.class_states[name]), "option class_prompts")
        elif name in config.file_states:
            resolved[name] = (tuple(config.file_states[name]), "prompts_file")
        elif descriptions and descriptions.get(name):
            resolved[name] = (tuple(descriptions[name]), "dataset descriptions")
        elif name == normal_class:
            resolved[name] = (NORMAL_STATES, "WinCLIP normal states")
        elif binary and name == BINARY_DEFECT_CLASS:
            resolved[name] = (ANOMALOUS_STATES, "WinCLIP anomalous states")
        elif is_anonymous(name):
            anonymous.append(name)
        else:
            kind = humanise(defect_name(name), config.replace_underscores)
            resolved[name] = (tuple(s.format(t=kind) for s in DEFECT_TYPE_STATES), "defect-type name")
    if anonymous:
        raise PromptsNotApplicable(
            f"class names {', '.join(anonymous)} carry no meaning for text prompts, so zero-shot CLIP is not "
            "applicable to them; give phrases per class with option class_prompts (or prompts_file)"
        )
    return resolved


def sentences(states: Sequence[str], object_name: str, templates: Sequence[str]) -> list[str]:
    """Every state filled with the object name, wrapped by every template (state-major order)."""
    filled = [state.replace("{}", object_name) for state in states]
    return [template.replace("{}", state) for state in filled for template in templates]


def object_name_of(metadata: Mapping[str, Any], config: PromptConfig) -> str:
    """The object a sample shows: option/file ``object_name``, else its ``category`` metadata, else "object"."""
    if config.object_name:
        return config.object_name
    category = metadata.get("category")
    if isinstance(category, str) and category:
        return humanise(category, config.replace_underscores)
    return DEFAULT_OBJECT


def class_category(class_name: str) -> str | None:
    """``bottle/broken_large`` -> ``bottle`` (multi-category MVTec classes), else None."""
    return class_name.rsplit("/", 1)[0] if "/" in class_name else None
