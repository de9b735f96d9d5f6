"""The ``sweeps`` config key: one custom method per swept option value, validated before planning."""

from __future__ import annotations

import pytest

from asebench.api.errors import ConfigError
from asebench.run.config import RunConfig, build_config, expand_sweeps, sweep_name
from asebench.run.grid import plan_methods


def test_a_sweep_expands_to_one_named_custom_method_per_value() -> None:
    config = build_config({"sweeps": {"patchcore": {"k": [1, 2, 4, 8]}}})
    customs = config.all_custom_methods()
    assert list(customs) == ["patchcore@k=1", "patchcore@k=2", "patchcore@k=4", "patchcore@k=8"]
    assert customs["patchcore@k=4"].base == "patchcore" and customs["patchcore@k=4"].options == {"k": 4}


def test_several_options_sweep_their_product_in_name_order() -> None:
    swept = expand_sweeps({"winclip": {"temperature": [0.01, 0.05], "prototype": ["mean-normalise"]}})
    assert sorted(swept) == [
        "winclip@prototype=mean-normalise@temperature=0.01",
        "winclip@prototype=mean-normalise@temperature=0.05",
    ]
    assert sweep_name("m", {"flag": True, "k": None}) == "m@flag=true@k=none"


def test_a_sweep_over_a_custom_method_starts_from_its_options() -> None:
    config = RunConfig(
        custom_methods={"pc-small": {"base": "patchcore", "options": {"image_size": 64}}},  # type: ignore[dict-item]
        sweeps={"pc-small": {"k": [1, 2]}},
    )
    variant = config.all_custom_methods()["pc-small@k=2"]
    assert variant.base == "patchcore" and variant.options == {"image_size": 64, "k": 2}


def test_planning_runs_the_selected_variants_with_their_options() -> None:
    config = build_config({"methods": ["patchcore@k=*"], "sweeps": {"patchcore": {"k": [1, 2]}}})
    plans = plan_methods(config)
    assert [p.name for p in plans] == ["patchcore@k=1", "patchcore@k=2"]
    assert [p.options.model_dump()["k"] for p in plans] == [1, 2]  # type: ignore[attr-defined]
    assert all(p.cls.__name__ == "PatchCore" for p in plans)


@pytest.mark.parametrize(
    ("sweeps", "message"),
    [
        ({"patchcor": {"k": [1]}}, "sweeps.patchcor"),  # unknown method
        ({"patchcore": {"shots": [1]}}, "unknown option(s) shots"),  # unknown option
        ({"patchcore": {"k": [0]}}, "method_options.patchcore@k=0"),  # a value the option refuses (k >= 1)
    ],
)
def test_unknown_methods_options_and_invalid_values_are_errors(sweeps: dict, message: str) -> None:
    config = build_config({"methods": ["majority"], "sweeps": sweeps})
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_methods(config)


@pytest.mark.parametrize(
    ("sweeps", "message"),
    [
        ({"patchcore": {}}, "name at least one option"),
        ({"patchcore": {"k": []}}, "at least one value"),
        ({"patchcore": {"k": [1, 1]}}, "values repeat"),
        ({"winclip": {"object_name": ["a, b"]}}, "cannot be part of a method name"),
        ({"patchcore": {"k": [[1, 2]]}}, "sweeps.patchcore.k"),  # a list is no single value
    ],
)
def test_malformed_sweeps_are_config_errors(sweeps: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config({"sweeps": sweeps})


def test_a_variant_name_taken_by_a_custom_method_is_an_error() -> None:
    with pytest.raises(ConfigError, match="also a variant of sweeps"):
        build_config(
            {
                "custom_methods": {"patchcore@k=1": {"base": "patchcore", "options": {"k": 1}}},
                "sweeps": {"patchcore": {"k": [1]}},
            }
        )
