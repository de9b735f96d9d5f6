"""``clip-zeroshot``: prompt ensembles, class resolution, prompts files, runs on the tiny folder dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.api.data import Sample
from asebench.methods._clip.options import ClipPromptOptions
from asebench.methods._clip.prompts import (
    ANOMALOUS_STATES,
    NORMAL_STATES,
    TEMPLATES,
    PromptConfig,
    PromptsNotApplicable,
    load_prompts_file,
    object_name_of,
    prompt_config,
    resolve_states,
    sentences,
)

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


# -- prompts (no torch) ----------------------------------------------------------------------


def test_winclip_ensemble_has_154_normal_and_88_anomalous_prompts() -> None:
    assert len(TEMPLATES) == 22 and len(set(TEMPLATES)) == 22
    normal = sentences(NORMAL_STATES, "metal nut", TEMPLATES)
    anomalous = sentences(ANOMALOUS_STATES, "metal nut", TEMPLATES)
    assert (len(normal), len(anomalous)) == (154, 88)
    assert normal[0] == "a cropped photo of the metal nut."
    assert anomalous[-1] == "a photo of a metal nut with damage for anomaly detection."


def test_class_states_come_from_options_then_file_then_defaults() -> None:
    config = PromptConfig(
        class_states={"crack": ["{} with a hairline crack"]},
        file_states={"crack": ["x"], "hole": ["{} with a round hole"]},
    )
    states = resolve_states(["good", "crack", "hole", "print_mark"], "good", config)
    assert states["good"] == (NORMAL_STATES, "WinCLIP normal states")
    assert states["crack"] == (("{} with a hairline crack",), "option class_prompts")
    assert states["hole"][1] == "prompts_file"
    assert states["print_mark"][0][0] == "{} with print mark" and states["print_mark"][1] == "defect-type name"
    binary = resolve_states(["normal", "defect"], "normal", PromptConfig(), binary=True)
    assert binary["defect"] == (ANOMALOUS_STATES, "WinCLIP anomalous states")


@pytest.mark.parametrize("names", [["type1", "type2"], ["class_3"], ["7"], ["bottle/type2"]])
def test_anonymous_class_names_are_not_applicable(names: list[str]) -> None:
    with pytest.raises(PromptsNotApplicable, match="not applicable"):
        resolve_states(["normal", *names], "normal", PromptConfig())
    given = PromptConfig(class_states={n: ["{} with a bright bar"] for n in names})
    assert set(resolve_states(["normal", *names], "normal", given)) == {"normal", *names}


def test_prompts_file_plain_and_structured_forms(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("type1: ['{} with a horizontal red bar']\ntype2: ['{} with a vertical blue bar']\n")
    assert load_prompts_file(plain)["classes"]["type2"] == ["{} with a vertical blue bar"]
    structured = tmp_path / "structured.yaml"
    structured.write_text(
        "object_name: steel surface\ntemplates: ['a photo of a {}.']\nclasses: {crazing: ['{} with crazing']}\n"
    )
    config = prompt_config(
        ClipPromptOptions(prompts_file=structured, class_prompts={"crazing": ["{} with fine cracks"]})
    )
    assert config.object_name == "steel surface" and list(config.templates) == ["a photo of a {}."]
    assert resolve_states(["crazing"], None, config)["crazing"][1] == "option class_prompts"


def test_prompts_file_is_safe_loaded_and_validated(tmp_path: Path) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text("type1: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_prompts_file(evil)
    bad = tmp_path / "bad.yaml"
    bad.write_text("templates: ['no placeholder']\nclasses: {a: ['x']}\n")
    with pytest.raises(ValueError, match="templates"):
        load_prompts_file(bad)


def test_object_name_comes_from_option_then_category_metadata() -> None:
    assert object_name_of({"category": "metal_nut"}, PromptConfig()) == "metal nut"
    assert object_name_of({"category": "metal_nut"}, PromptConfig(replace_underscores=False)) == "metal_nut"
    assert object_name_of({}, PromptConfig()) == "object"
    assert object_name_of({"category": "metal_nut"}, PromptConfig(object_name="nut")) == "nut"


# -- with a tiny random open_clip model ------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("open_clip")
    path = tmp_path_factory.mktemp("clip") / "tiny-clip-32.json"
    path.write_text(json.dumps(TINY))
    return str(path)


def test_classes_of_another_category_get_probability_zero() -> None:
    torch = pytest.importorskip("torch")
    from asebench.methods._clip.zeroshot import ClassPrototypes, class_logits, softmax

    protos = ClassPrototypes(("good", "bottle/crack", "cable/crack"), {"bottle": torch.eye(3), "cable": torch.eye(3)})
    samples = [
        Sample("a", "", Path("a.png"), metadata={"category": "bottle"}),
        Sample("b", "", Path("b.png"), metadata={"category": "cable"}),
    ]
    config = PromptConfig()
    probabilities = softmax(class_logits(torch.eye(3)[[1, 1]], samples, protos, config, 0.01))
    assert probabilities[0, 2] == 0.0 and probabilities[1, 1] == 0.0
    assert probabilities[0].argmax() == 1 and probabilities[1].argmax() == 0


def run_zeroshot(root: Path, run_dir: Path, tiny_model: str, **options: Any) -> Any:
    from asebench.run.config import RunConfig
    from asebench.run.runner import run

    return run(
        RunConfig(
            methods=["clip-zeroshot"],
            datasets=["folder"],
            dataset_options={"folder": {"root": str(root)}},
            device="cpu",
            run_dir=run_dir,
            bootstrap={"samples": 10},
            method_options={"clip-zeroshot": {"model": tiny_model, "weights": "random", **options}},
        )
    )


def test_zeroshot_runs_end_to_end_on_the_tiny_folder_dataset(
    tmp_path: Path, tiny_model: str, tiny_folder_dataset: Any
) -> None:
    prompts = {"type1": ["{} with a horizontal red bar"], "type2": ["{} with a vertical blue bar"]}
    outcome = run_zeroshot(
        tiny_folder_dataset(), tmp_path / "run", tiny_model, class_prompts=prompts, object_name="grey square"
    )
    assert not outcome.failed, [r.get("error") for r in outcome.failed]
    by_task = {r["cell"]["task"]: r for r in outcome.records}
    multi = by_task["multiclass"]
    probabilities = np.array(multi["predictions"]["probabilities"])
    assert probabilities.shape == (len(multi["predictions"]["ids"]), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    prov = multi["method"]["provenance"]
    assert prov["weights"] == "random" and prov["temperature"] == 0.01
    assert prov["prompts"]["prompts_per_class"] == {"normal": 154, "type1": 22, "type2": 22}
    assert prov["prompts"]["example_prompt"]["type1"] == "a cropped photo of the grey square with a horizontal red bar."
    binary = by_task["binary"]
    assert binary["method"]["provenance"]["prompts"]["prompts_per_class"] == {"normal": 154, "defect": 88}
    for record in (multi, binary):  # 1 - P(normal) is scored by the runner at image level
        assert record["anomaly_metrics"]["image_auroc"] is not None and record["anomaly_metrics"]["pixel_auroc"] is None


def test_zeroshot_multiclass_on_anonymous_classes_fails_as_not_applicable(
    tmp_path: Path, tiny_model: str, tiny_folder_dataset: Any
) -> None:
    outcome = run_zeroshot(tiny_folder_dataset(), tmp_path / "run", tiny_model)
    by_task = {r["cell"]["task"]: r for r in outcome.records}
    assert by_task["binary"]["status"] == "ok"
    assert by_task["multiclass"]["status"] == "failed"
    assert "type1, type2 carry no meaning" in by_task["multiclass"]["error"]["message"]
