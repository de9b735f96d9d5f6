"""The run configuration: defaults, strict keys, safe file parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from asebench.api.data import Task
from asebench.api.errors import AsebenchError, ConfigError
from asebench.run.config import RunConfig, build_config, format_validation_error, read_config_file
from asebench.run.splits import SplitConfig
from asebench.scoring.tail import TailConfig
from asebench.store.hashing import stable_hash

# -- defaults ------------------------------------------------------------------


def test_build_config_defaults():
    config = build_config()
    assert config == RunConfig()
    assert config.methods == ["all"]
    assert config.datasets == ["ase-synth"]
    assert config.tasks == [Task.BINARY, Task.MULTICLASS]
    assert config.seeds == [0]
    assert config.split == SplitConfig()
    assert config.tail == TailConfig()
    assert config.bootstrap.samples == 1000 and config.bootstrap.confidence == 0.95
    assert config.device == "auto"
    assert config.profile == "quick"
    assert config.run_dir == Path("runs/default")
    assert config.rerun is False and config.deterministic is False
    assert config.plugins == [] and config.custom_methods == {}
    assert config.allow_download is False  # nothing is downloaded unless the run says so


def test_allow_download_is_a_typed_key_a_flag_overrides():
    assert build_config({"allow_download": True}).allow_download is True
    assert build_config({"allow_download": True}, {"allow_download": False}).allow_download is False
    with pytest.raises(ConfigError, match=r"run\.yaml: allow_download: Input should be a valid boolean"):
        build_config({"allow_download": "maybe"}, source="run.yaml")


def test_build_config_from_file_data():
    config = build_config(
        {
            "methods": ["majority", "cnn"],
            "seeds": [0, 1, 2],
            "tasks": ["multiclass"],
            "split": {"protocol": "kfold", "folds": 3},
            "method_options": {"cnn": {"epochs": 2}},
            "custom_methods": {"cnn-small": {"base": "cnn", "options": {"image_size": 64}}},
            "run_dir": "out/run1",
        }
    )
    assert config.seeds == [0, 1, 2]
    assert config.tasks == [Task.MULTICLASS]
    assert config.split.protocol == "kfold" and config.split.folds == 3
    assert config.method_options == {"cnn": {"epochs": 2}}
    assert config.custom_methods["cnn-small"].base == "cnn"
    assert config.custom_methods["cnn-small"].options == {"image_size": 64}
    assert config.run_dir == Path("out/run1")


# -- unknown keys --------------------------------------------------------------


def test_unknown_top_level_key_names_it():
    with pytest.raises(ConfigError) as info:
        build_config({"method": ["majority"]}, source="run.yaml")
    assert str(info.value) == "run.yaml: unknown key 'method'"
    assert isinstance(info.value, AsebenchError)


@pytest.mark.parametrize(
    ("data", "dotted"),
    [
        ({"split": {"fold": 3}}, "split.fold"),
        ({"tail": {"worst": 2}}, "tail.worst"),
        ({"bootstrap": {"sample": 10}}, "bootstrap.sample"),
        ({"custom_methods": {"x": {"base": "cnn", "option": {}}}}, "custom_methods.x.option"),
    ],
)
def test_nested_unknown_key_names_the_dotted_key(data, dotted):
    with pytest.raises(ConfigError, match=f"unknown key '{dotted}'"):
        build_config(data, source="cfg.toml")


def test_several_problems_one_line_each():
    with pytest.raises(ConfigError) as info:
        build_config({"seeds": [], "split": {"fold": 1}, "profile": "huge"}, source="c")
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert all(line.startswith("c: ") for line in lines)
    assert any("seeds" in line and "must not be empty" in line for line in lines)
    assert any("unknown key 'split.fold'" in line for line in lines)
    assert any(line.startswith("c: profile:") for line in lines)


@pytest.mark.parametrize("field", ["seeds", "tasks", "methods", "datasets"])
def test_empty_lists_rejected(field):
    with pytest.raises(ConfigError, match=field):
        build_config({field: []})


def test_wrong_types_rejected():
    with pytest.raises(ConfigError, match="num_workers"):
        build_config({"num_workers": -1})
    with pytest.raises(ConfigError, match="tasks"):
        build_config({"tasks": ["regression"]})
    with pytest.raises(ConfigError, match=r"bootstrap\.confidence"):
        build_config({"bootstrap": {"confidence": 1.0}})


def test_format_validation_error_top_level_location():
    from pydantic import ValidationError

    try:
        RunConfig.model_validate("not a mapping")
    except ValidationError as exc:
        message = format_validation_error(exc, "src")
    assert message.startswith("src: (top level):")


# -- device ------------------------------------------------------------------


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:3", "mps"])
def test_valid_devices(device):
    assert build_config({"device": device}).device == device


@pytest.mark.parametrize("device", ["gpu", "tpu", "", "CUDA", "cuda0"])
def test_invalid_device_rejected(device):
    with pytest.raises(ConfigError, match="device"):
        build_config({"device": device})


@pytest.mark.parametrize("device", ["cuda:abc", "cpu:3", "auto:1", "mps:x", "cuda:"])
def test_device_suffix_must_be_cuda_index(device):
    with pytest.raises(ConfigError, match="device"):
        build_config({"device": device})


# -- overrides -----------------------------------------------------------------


def test_overrides_win_and_none_does_not_override():
    file_data = {"seeds": [1, 2], "device": "cpu", "rerun": True}
    config = build_config(file_data, {"seeds": None, "device": "cuda", "rerun": None, "profile": None})
    assert config.seeds == [1, 2]
    assert config.device == "cuda"
    assert config.rerun is True
    assert config.profile == "quick"
    assert file_data == {"seeds": [1, 2], "device": "cpu", "rerun": True}  # input untouched


def test_false_and_zero_overrides_do_override():
    config = build_config({"rerun": True, "num_workers": 4}, {"rerun": False, "num_workers": 0})
    assert config.rerun is False and config.num_workers == 0


def test_unknown_override_key_is_config_error():
    with pytest.raises(ConfigError, match="unknown key 'sedes'"):
        build_config({}, {"sedes": [1]}, source="command line")


def test_config_is_frozen():
    config = build_config()
    with pytest.raises(ValidationError, match="Instance is frozen"):
        config.seeds = [5]  # type: ignore[misc]


# -- files -----------------------------------------------------------------------


YAML_TEXT = """\
methods: [majority]
seeds: [0, 1]
split: {protocol: kfold, folds: 4}
method_options:
  majority: {}
"""

TOML_TEXT = """\
methods = ["majority"]
seeds = [0, 1]

[split]
protocol = "kfold"
folds = 4

[method_options.majority]
"""


@pytest.mark.parametrize("name, text", [("run.yaml", YAML_TEXT), ("run.toml", TOML_TEXT)], ids=["yaml", "toml"])
def test_read_config_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    data = read_config_file(path)
    assert data == {
        "methods": ["majority"],
        "seeds": [0, 1],
        "split": {"protocol": "kfold", "folds": 4},
        "method_options": {"majority": {}},
    }
    config = build_config(data, source=str(path))
    assert config.split.folds == 4
    assert config == build_config(read_config_file(_write(tmp_path / "same.yml", YAML_TEXT)))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_empty_yaml_is_empty_mapping(tmp_path):
    assert read_config_file(_write(tmp_path / "empty.yaml", "")) == {}
    assert read_config_file(_write(tmp_path / "comment.yaml", "# nothing\n")) == {}


def test_yaml_python_tags_are_rejected_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = f"methods: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_config_file(_write(tmp_path / "evil.yaml", text))
    assert not marker.exists()


def test_yaml_python_name_tag_rejected(tmp_path):
    with pytest.raises(ConfigError):
        read_config_file(_write(tmp_path / "evil2.yaml", "x: !!python/name:os.system\n"))


@pytest.mark.parametrize(
    ("name", "text"), [("list.yaml", "- a\n- b\n"), ("scalar.yaml", "42\n"), ("str.yml", "hello\n")]
)
def test_non_mapping_top_level(tmp_path, name, text):
    with pytest.raises(ConfigError, match="mapping at the top level"):
        read_config_file(_write(tmp_path / name, text))


def test_invalid_yaml_and_toml(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_config_file(_write(tmp_path / "bad.yaml", "a: [1, 2\n"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_config_file(_write(tmp_path / "bad.toml", "a = [1, 2\n"))


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        read_config_file(missing)
    assert str(missing) in str(info.value)


def test_file_unknown_key_reported_with_source(tmp_path):
    path = _write(tmp_path / "typo.yaml", "split:\n  fold: 3\n")
    with pytest.raises(ConfigError) as info:
        build_config(read_config_file(path), source=path.name)
    assert str(info.value) == "typo.yaml: unknown key 'split.fold'"


# -- stable_hash ---------------------------------------------------------------


def test_stable_hash_key_order_independent():
    a = {"x": 1, "y": {"b": [1, 2], "a": "s"}}
    b = {"y": {"a": "s", "b": [1, 2]}, "x": 1}
    assert stable_hash(a) == stable_hash(b)
    assert len(stable_hash(a)) == 12
    assert len(stable_hash(a, length=20)) == 20
    assert stable_hash(a, length=20).startswith(stable_hash(a))


def test_stable_hash_sensitive_to_values():
    assert stable_hash({"x": 1}) != stable_hash({"x": 2})
    assert stable_hash([1, 2]) != stable_hash([2, 1])


def test_stable_hash_non_json_values_and_config_dump():
    assert stable_hash({"p": Path("a/b")}) == stable_hash({"p": "a/b"})
    dump = build_config().model_dump(mode="json")
    assert stable_hash(dump) == stable_hash(build_config().model_dump(mode="json"))
    assert stable_hash(dump) != stable_hash(build_config({"seeds": [1]}).model_dump(mode="json"))
