"""configs/prompt_ablation.yaml plans, and the report tells each of its variants apart from the default."""

from __future__ import annotations

from pathlib import Path

from asebench.methods._clip.prompts import APRIL_GAN_ANOMALOUS_STATES, CLIP_TEMPLATES
from asebench.report.studies.prompts import DEFAULT, variant_label
from asebench.run.config import build_config, read_config_file
from asebench.run.grid import plan_methods

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "prompt_ablation.yaml"


def test_the_prompt_ablation_config_plans_one_variant_per_axis() -> None:
    config = build_config(read_config_file(CONFIG), source=str(CONFIG))
    plans = {plan.name: plan for plan in plan_methods(config)}
    assert len(plans) == 12
    labels = {name: variant_label(plan.options.model_dump(mode="json")) for name, plan in plans.items()}
    for base in ("winclip", "clip-zeroshot"):
        assert labels[base] == DEFAULT
        assert labels[f"{base}-prompt-clip35"] == "templates: CLIP's 35"
        assert labels[f"{base}-prompt-one-template"].startswith("templates: one:")
        assert labels[f"{base}-prompt-aprilgan-states"] == "states: APRIL-GAN's (with broken)"
        assert labels[f"{base}-prompt-mean-normalise"] == "prototype: mean-normalise"
        assert labels[f"{base}-prompt-verbatim-name"] == "object name: verbatim"
    options = plans["clip-zeroshot-prompt-clip35"].options.model_dump(mode="json")
    assert tuple(options["templates"]) == CLIP_TEMPLATES
    states = plans["winclip-prompt-aprilgan-states"].options.model_dump(mode="json")["class_prompts"]["defect"]
    assert tuple(states) == APRIL_GAN_ANOMALOUS_STATES
