"""Registries: decorators, lazy discovery, name resolution, broken plugins."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import textwrap
import types
import uuid
from pathlib import Path
from typing import Any

import pytest

from asebench.api.data import DatasetAdapter
from asebench.api.errors import PluginError, UnknownNameError
from asebench.api.method import Method, Predictions
from asebench.api.plugins import load_plugin, load_plugins
from asebench.api.registry import METHODS, BrokenPlugin, Registry

# -- helpers -------------------------------------------------------------------

METHOD_TEMPLATE = """\
from {holder} import REG
from asebench.api.method import Method, Predictions


class _Base(Method):
    def fit(self, train, val):
        pass

    def predict(self, test):
        return Predictions.from_labels([0] * len(test))

{body}
"""


def make_method(name: str = "Dummy") -> type[Method]:
    def fit(self, train, val):
        return None

    def predict(self, test):
        return Predictions.from_labels([0] * len(test))

    return type(name, (Method,), {"fit": fit, "predict": predict, "__module__": __name__})


class FakePackage:
    """A throw-away built-in package on sys.path whose modules register into ``registry``."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, base: type = Method, kind: str = "method") -> None:
        self.tag = uuid.uuid4().hex[:10]
        self.name = f"asb_fake_{self.tag}"
        self.holder = f"asb_holder_{self.tag}"
        self.group = f"asebench.test.nonexistent.group.{self.tag}"
        self.root = root
        self.dir = root / self.name
        self.dir.mkdir()
        (self.dir / "__init__.py").write_text("", encoding="utf-8")
        monkeypatch.syspath_prepend(str(root))
        self.registry = Registry(kind, base, self.name, self.group)
        holder = types.ModuleType(self.holder)
        holder.REG = self.registry  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, self.holder, holder)

    def module(self, name: str, body: str, raw: bool = False) -> str:
        text = textwrap.dedent(body) if raw else METHOD_TEMPLATE.format(holder=self.holder, body=textwrap.dedent(body))
        (self.dir / f"{name}.py").write_text(text, encoding="utf-8")
        return f"{self.name}.{name}"

    def external(self, name: str, body: str) -> str:
        """A top-level module beside the package (not imported by discovery)."""
        module = f"asb_ext_{name}_{self.tag}"
        text = METHOD_TEMPLATE.format(holder=self.holder, body=textwrap.dedent(body))
        (self.root / f"{module}.py").write_text(text, encoding="utf-8")
        return module

    def cleanup(self) -> None:
        prefixes = (self.name, "asb_ext_")
        for key in [k for k in sys.modules if k.startswith(prefixes) and self.tag in k]:
            del sys.modules[key]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    package = FakePackage(tmp_path, monkeypatch)
    package.module(
        "resnets",
        """
        @REG.register("resnet18", depth=18, pretrained=True)
        @REG.register("resnet50", depth=50)
        class ResNet(_Base):
            family = "cnn"
    """,
    )
    package.module(
        "simple",
        """
        @REG.register("majority")
        class Majority(_Base):
            family = "baseline"

        @REG.register("random")
        class RandomGuess(_Base):
            pass
    """,
    )
    package.module(
        "_private",
        """
        @REG.register("hidden")
        class Hidden(_Base):
            pass
    """,
    )
    yield package
    package.cleanup()


# -- registration ----------------------------------------------------------------


def test_builtins_discovered_with_preset_defaults(fake):
    reg = fake.registry
    assert reg.names() == ["majority", "random", "resnet18", "resnet50"]
    r18, r50 = reg.entry("resnet18"), reg.entry("resnet50")
    assert r18.target is r50.target is reg.get("resnet18")
    assert r18.defaults == {"depth": 18, "pretrained": True}
    assert r50.defaults == {"depth": 50}
    assert reg.entry("majority").defaults == {}
    assert r18.is_loaded()
    assert r18.target.family == "cnn"
    assert reg.broken() == []


def test_private_modules_are_not_imported(fake):
    fake.registry.names()
    assert "hidden" not in fake.registry.names()
    assert f"{fake.name}._private" not in sys.modules


def test_discovery_is_lazy_and_once(fake):
    assert f"{fake.name}.simple" not in sys.modules
    fake.registry.names()
    assert f"{fake.name}.simple" in sys.modules
    fake.module("late", "@REG.register('late')\nclass Late(_Base):\n    pass\n")
    assert "late" not in fake.registry.names()  # discovery ran already


def test_decorator_returns_class_and_direct_register(fake):
    reg = fake.registry
    cls = make_method()
    assert reg.register("direct", lr=0.1)(cls) is cls
    assert reg.get("direct") is cls
    assert reg.entry("direct").defaults == {"lr": 0.1}
    assert reg.entry("direct").source == f"plugin {__name__}"
    assert reg.entry_source("majority") == f"plugin {fake.name}.simple"


def test_dataset_registry_labels_class_with_first_name(tmp_path, monkeypatch):
    package = FakePackage(tmp_path, monkeypatch, base=DatasetAdapter, kind="dataset")
    try:
        reg = package.registry

        class Adapter(DatasetAdapter):
            def load(self):
                raise NotImplementedError

        reg.register("line-3")(Adapter)
        reg.register("line-3-alias")(Adapter)
        assert Adapter.name == "line-3"
        assert reg.get("line-3-alias") is Adapter
        assert reg.names() == ["line-3", "line-3-alias"]
    finally:
        package.cleanup()


def test_registering_non_method_is_plugin_error(fake):
    reg = fake.registry

    class NotAMethod:
        pass

    with pytest.raises(PluginError, match=r"method 'bad' must be a subclass of Method"):
        reg.register("bad")(NotAMethod)
    with pytest.raises(PluginError):
        reg.add("bad2", 42)  # type: ignore[arg-type]
    assert "bad" not in reg.names() and "bad2" not in reg.names()


def test_same_name_for_two_classes_is_plugin_error(fake):
    reg = fake.registry
    first, second = make_method("First"), make_method("Second")
    reg.register("dup")(first)
    reg.register("dup")(first)  # re-registering the same class is a no-op
    with pytest.raises(PluginError, match=r"method name 'dup' is registered twice"):
        reg.register("dup")(second)
    assert reg.get("dup") is first


def test_clash_with_builtin_name_after_discovery(fake):
    fake.registry.discover()
    with pytest.raises(PluginError, match="'majority' is registered twice"):
        fake.registry.register("majority")(make_method("Other"))
    assert fake.registry.get("majority").__name__ == "Majority"


def test_clash_with_builtin_name_before_discovery(fake):
    reg = fake.registry
    with contextlib.suppress(PluginError):  # the plugin's registration failing is the correct outcome
        reg.register("majority")(make_method("Impostor"))
    assert reg.get("majority").__name__ == "Majority"
    assert "random" in reg.names()
    assert reg.broken() == []


# -- resolve ---------------------------------------------------------------------


def test_resolve_all(fake):
    assert fake.registry.resolve("all") == ["majority", "random", "resnet18", "resnet50"]


def test_resolve_exact_and_comma_lists_keep_order(fake):
    reg = fake.registry
    assert reg.resolve("resnet50") == ["resnet50"]
    assert reg.resolve("resnet50,majority") == ["resnet50", "majority"]
    assert reg.resolve(" random , resnet18 ,") == ["random", "resnet18"]
    assert reg.resolve(["resnet50", "majority,random"]) == ["resnet50", "majority", "random"]


def test_resolve_globs(fake):
    reg = fake.registry
    assert reg.resolve("res*") == ["resnet18", "resnet50"]
    assert reg.resolve("resnet?0") == ["resnet50"]
    assert reg.resolve("[mr]a*") == ["majority", "random"]
    assert reg.resolve("Res*".lower()) == ["resnet18", "resnet50"]


def test_resolve_deduplicates(fake):
    reg = fake.registry
    assert reg.resolve("resnet50,res*,resnet50") == ["resnet50", "resnet18"]
    assert reg.resolve(["majority", "all"]) == ["majority", "random", "resnet18", "resnet50"]


def test_resolve_extra_names(fake):
    reg = fake.registry
    assert reg.resolve("res*", extra_names=["resnet18-small"]) == ["resnet18", "resnet18-small", "resnet50"]
    assert reg.resolve("resnet18-small", extra_names=["resnet18-small"]) == ["resnet18-small"]


def test_unknown_name_suggests_close_names(fake):
    with pytest.raises(UnknownNameError) as info:
        fake.registry.resolve("resnet5")
    message = str(info.value)
    assert "unknown method 'resnet5'" in message
    assert "Did you mean" in message and "resnet50" in message


def test_unknown_glob_and_empty_selection(fake):
    with pytest.raises(UnknownNameError, match=re.escape("unknown method 'vit*'")):
        fake.registry.resolve("vit*")
    with pytest.raises(UnknownNameError, match="no method selected"):
        fake.registry.resolve(" , ")
    with pytest.raises(UnknownNameError, match="no method selected"):
        fake.registry.resolve([])


def test_unknown_name_via_entry_and_get(fake):
    with pytest.raises(UnknownNameError, match="Did you mean: majority"):
        fake.registry.get("majorty")
    with pytest.raises(UnknownNameError) as info:
        fake.registry.entry("zzzzzz")
    assert "Did you mean" not in str(info.value)


# -- broken modules ----------------------------------------------------------------


def test_broken_builtin_module_recorded_others_still_resolve(fake):
    fake.module("broken", "raise RuntimeError('no such backbone')\n", raw=True)
    reg = fake.registry
    assert reg.resolve("res*,majority") == ["resnet18", "resnet50", "majority"]
    broken = reg.broken()
    assert len(broken) == 1
    assert broken[0].source == f"{fake.name}.broken"
    assert broken[0].error == "RuntimeError: no such backbone"
    assert "Traceback" in broken[0].details
    with pytest.raises(UnknownNameError, match=rf"plugin that failed: {fake.name}\.broken failed to load: Runtime"):
        reg.get("something-from-broken")


def test_unknown_name_after_a_plugin_failed_names_it_not_an_unrelated_guess(fake):
    fake.module("maml", '@REG.register("maml-fo")\nclass Maml(_Base):\n    pass\n')
    fake.module("my_rf", "x = 1\nraise RuntimeError('needs sklearn 9')\n", raw=True)
    reg = fake.registry
    with pytest.raises(UnknownNameError) as info:
        reg.resolve("my-rf")
    message = str(info.value)
    assert "Did you mean" not in message  # 'maml-fo' is what a loose guess would say
    assert f"{fake.name}.my_rf failed to load: RuntimeError: needs sklearn 9" in message
    assert "my_rf.py:2" in message
    with pytest.raises(UnknownNameError, match="Did you mean: resnet18"):  # a near miss is still suggested
        reg.resolve("resnet81")


def test_broken_import_error_module(fake):
    fake.module("needs_extra", "import asebench_definitely_missing_module_xyz\n", raw=True)
    broken = fake.registry.broken()
    assert [b.source for b in broken] == [f"{fake.name}.needs_extra"]
    assert broken[0].error.startswith("ModuleNotFoundError")
    assert "majority" in fake.registry.names()


def test_record_broken(fake):
    fake.registry.record_broken(BrokenPlugin("--plugin x.py", "SyntaxError: bad"))
    assert BrokenPlugin("--plugin x.py", "SyntaxError: bad") in fake.registry.broken()


# -- lazy string targets -------------------------------------------------------------


def test_lazy_target_loads_on_first_entry(fake):
    module = fake.external(
        "lazymod",
        """
        class LazyMethod(_Base):
            family = "lazy"

            class Inner(_Base):
                pass
    """,
    )
    reg = fake.registry
    reg.add("lazy", f"{module}:LazyMethod", defaults={"k": 1}, source="entry point of test")
    reg.add("lazy-inner", f"{module}:LazyMethod.Inner")
    assert "lazy" in reg.names()
    assert module not in sys.modules
    assert reg.entry_source("lazy") != "builtin"
    entry = reg._entries["lazy"]
    assert not entry.is_loaded()
    loaded = reg.entry("lazy")
    assert module in sys.modules
    assert loaded.is_loaded()
    assert loaded.target.__name__ == "LazyMethod" and loaded.target.family == "lazy"
    assert loaded.defaults == {"k": 1}
    assert reg.get("lazy") is loaded.target
    assert reg.get("lazy-inner").__qualname__ == "LazyMethod.Inner"


def test_lazy_target_same_as_class_is_not_a_clash(fake):
    module = fake.external("lazymod2", "class L(_Base):\n    pass\n")
    reg = fake.registry
    reg.add("l", f"{module}:L")
    cls = reg.get("l")
    reg.add("l", cls)  # same qualified target: no error
    reg.add("l", f"{module}:L")
    with pytest.raises(PluginError):
        reg.add("l", f"{module}:Other")


def test_entry_point_class_registering_itself_gives_its_presets_from_the_first_lookup(fake):
    """A packaged method that keeps ``@register_method`` under its entry point's name: one entry, presets at once."""
    module = fake.external("selfreg", '@REG.register("self-reg", k=5)\nclass SelfRegistered(_Base):\n    pass\n')
    reg = fake.registry
    reg.add("self-reg", f"{module}:SelfRegistered", source="entry point of test-dist")
    first = reg.entry("self-reg")  # imports the module, whose decorator registers the same class again
    assert first.is_loaded() and first.target.__name__ == "SelfRegistered"
    assert first.defaults == {"k": 5}
    assert reg.entry("self-reg") is first and first.defaults == {"k": 5}
    assert reg.entry_source("self-reg") == "entry point of test-dist"
    reg.add("self-reg", f"{module}:SelfRegistered", source="entry point of test-dist")  # lazy again: no change
    assert reg.entry("self-reg").target is first.target and reg.entry("self-reg").defaults == {"k": 5}


@pytest.mark.parametrize("target", ["asb_no_such_module_xyz:Thing", "asebench.api.method:NoSuchClass"])
def test_lazy_target_that_fails_is_plugin_error_naming_it(fake, target):
    reg = fake.registry
    reg.add("ghost", target, source="entry point of ghost-dist")
    with pytest.raises(PluginError) as info:
        reg.entry("ghost")
    message = str(info.value)
    assert "'ghost'" in message and "ghost-dist" in message and "failed to import" in message
    assert reg.resolve("majority") == ["majority"]  # the rest still works


def test_lazy_target_not_a_method_is_plugin_error(fake):
    fake.registry.add("not-method", "pathlib:Path")
    with pytest.raises(PluginError, match="must be a subclass of Method"):
        fake.registry.get("not-method")


# -- entry points ------------------------------------------------------------------


def test_entry_points_are_lazy_and_clashes_are_broken(fake, tmp_path, monkeypatch):
    module = fake.external("epmod", "class FromEntryPoint(_Base):\n    pass\n")
    dist_root = tmp_path / "site"
    info = dist_root / f"asb_fake_dist_{fake.tag}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: asb-fake-dist-{fake.tag}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{fake.group}]\nfrom-ep = {module}:FromEntryPoint\nmajority = {module}:FromEntryPoint\n"
    )
    monkeypatch.syspath_prepend(str(dist_root))
    reg = fake.registry
    assert "from-ep" in reg.names()
    assert module not in sys.modules
    assert reg.entry_source("from-ep").startswith("entry point of asb-fake-dist")
    assert reg.get("from-ep").__name__ == "FromEntryPoint"
    clashes = [b for b in reg.broken() if b.source.startswith("entry point majority")]
    assert len(clashes) == 1 and "registered twice" in clashes[0].error
    assert reg.get("majority").__name__ == "Majority"


# -- the lazy-import rule ------------------------------------------------------------


def test_listing_names_does_not_import_heavy_libraries():
    code = textwrap.dedent("""
        import json, sys
        from asebench.api.registry import METHODS, DATASETS
        methods, datasets = METHODS.names(), DATASETS.names()
        heavy = sorted(m for m in ("torch", "timm", "torchvision") if m in sys.modules)
        print(json.dumps({"methods": methods, "datasets": datasets, "heavy": heavy}))
    """)
    data = run_json_script(code)
    assert data["heavy"] == []
    assert "majority" in data["methods"]
    assert data["datasets"]


def run_json_script(code: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter (offline, no pytest variables) and parse the JSON it prints last."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**env, "HF_HUB_OFFLINE": "1"}
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- plugins.load_plugin --------------------------------------------------------------


@pytest.fixture
def global_cleanup():
    """Remove whatever a test adds to the process-wide METHODS registry."""
    METHODS.discover()  # built-ins stay; only what the test adds is removed afterwards
    before_entries = set(METHODS._entries)
    before_broken = len(METHODS._broken)
    before_modules = set(sys.modules)
    yield
    for name in set(METHODS._entries) - before_entries:
        del METHODS._entries[name]
    del METHODS._broken[before_broken:]
    for name in set(sys.modules) - before_modules:
        if name.startswith(("asebench_plugin_", "asb_")):
            del sys.modules[name]


def test_load_plugin_from_py_file_registers_method(tmp_path, global_cleanup):
    name = f"zz-test-plugin-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "my_plugin.py"
    path.write_text(
        textwrap.dedent(f"""
        from asebench.api.method import Method, Predictions
        from asebench.api.registry import register_method

        @register_method({name!r}, alpha=0.5)
        class FilePlugin(Method):
            family = "plugin-test"

            def fit(self, train, val):
                pass

            def predict(self, test):
                return Predictions.from_labels([0] * len(test))
    """),
        encoding="utf-8",
    )
    assert load_plugin(str(path)) is None
    entry = METHODS.entry(name)
    assert entry.target.__name__ == "FilePlugin"
    assert entry.defaults == {"alpha": 0.5}
    assert entry.source.startswith("plugin asebench_plugin_my_plugin_")
    assert METHODS.resolve(name) == [name]
    assert load_plugin(str(path)) is None  # loading twice is harmless


def test_load_plugin_by_module_name(tmp_path, monkeypatch, global_cleanup):
    name = f"zz-test-modplugin-{uuid.uuid4().hex[:8]}"
    module = f"asb_modplugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(f"""
        from asebench.api.method import Method
        from asebench.api.registry import register_method

        @register_method({name!r})
        class ModPlugin(Method):
            def fit(self, train, val):
                pass

            def predict(self, test):
                raise NotImplementedError
    """),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_plugin(module) is None
    assert METHODS.get(name).__name__ == "ModPlugin"


def test_load_plugin_broken_file_returns_broken_plugin(tmp_path, global_cleanup):
    path = tmp_path / "broken_plugin.py"
    path.write_text("import asebench\nraise ValueError('plugin exploded')\n", encoding="utf-8")
    broken = load_plugin(str(path))
    assert isinstance(broken, BrokenPlugin)
    assert broken.source == f"--plugin {path}"
    assert broken.error == "ValueError: plugin exploded"
    assert "Traceback" in broken.details
    assert broken in METHODS.broken()
    assert not any(k.startswith("asebench_plugin_broken_plugin_") for k in sys.modules)


def test_load_plugin_syntax_error_and_missing(tmp_path, global_cleanup):
    bad = tmp_path / "syntax.py"
    bad.write_text("def broken(:\n", encoding="utf-8")
    assert load_plugin(str(bad)).error.startswith("SyntaxError")
    missing = load_plugin(str(tmp_path / "missing.py"))
    assert isinstance(missing, BrokenPlugin)
    assert missing.error.startswith("FileNotFoundError") and "missing.py" in missing.error
    unknown = load_plugin("asb_no_such_plugin_module_xyz")
    assert unknown is not None and unknown.error.startswith("ModuleNotFoundError")


def test_load_plugin_locations(tmp_path, global_cleanup):
    """Each failure says where: the SyntaxError's line, the line that raised, the missing path."""
    bad = tmp_path / "syntax.py"
    bad.write_text("x = 1\n\ndef broken(:\n    pass\n", encoding="utf-8")
    assert load_plugin(str(bad)).location == f"{bad}:3"
    raises = tmp_path / "raises.py"
    raises.write_text("import os\n\nraise RuntimeError('boom')\n", encoding="utf-8")
    assert load_plugin(str(raises)).location == f"{raises}:3"
    missing = load_plugin(str(tmp_path / "missing.py"))
    assert missing.location == str(tmp_path / "missing.py")
    assert missing.describe().startswith(f"--plugin {tmp_path / 'missing.py'} failed to load: FileNotFoundError")


def test_load_plugins_raises_one_error_for_all_that_failed(tmp_path, global_cleanup):
    raises = tmp_path / "raises.py"
    raises.write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    with pytest.raises(PluginError) as info:
        load_plugins([str(raises), str(tmp_path / "missing.py")])
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0] == f"--plugin {raises} failed to load: RuntimeError: boom (at {raises}:1)"
    assert "missing.py failed to load: FileNotFoundError" in lines[1]


def test_plugin_file_loaded_again_or_edited_is_not_a_clash(tmp_path, global_cleanup):
    """Tests and notebooks load one file many times, and again after an edit: the same class replaces itself."""
    name = f"zz-reload-{uuid.uuid4().hex[:8]}"
    path = clashing_plugin(tmp_path / "reload.py", name, "Reloaded")
    load_plugins([str(path)])
    first = METHODS.get(name)
    load_plugins([str(path)])
    assert METHODS.get(name) is first
    path.write_text(path.read_text(encoding="utf-8") + "\nEDITED = True\n", encoding="utf-8")
    load_plugins([str(path)])
    assert METHODS.get(name) is not first and METHODS.get(name).__name__ == "Reloaded"


def clashing_plugin(path, name: str, class_name: str):
    """A plugin file registering a method under a built-in's ``name``."""
    path.write_text(
        textwrap.dedent(f"""
        from asebench.api import Method, register_method

        @register_method({name!r})
        class {class_name}(Method):
            def fit(self, train, val):
                pass

            def predict(self, test):
                raise NotImplementedError
    """),
        encoding="utf-8",
    )
    return path


def test_load_plugin_registering_clash_is_reported(tmp_path, global_cleanup):
    path = clashing_plugin(tmp_path / "clash.py", "majority", "NotTheRealMajority")
    METHODS.names()  # built-ins first, as the runner does
    broken = load_plugin(str(path))
    assert broken is not None and broken.error.startswith("PluginError") and "registered twice" in broken.error
    assert broken.location == f"{path.resolve()}:4"  # the decorator's line in the plugin file
    assert METHODS.get("majority").__name__ != "NotTheRealMajority"


def test_plugin_reusing_builtin_name_in_runner_order(tmp_path):
    path = clashing_plugin(tmp_path / "clash_first.py", "resnet18", "MyResnet")
    code = textwrap.dedent(f"""
        import json
        from asebench.api.plugins import load_plugin
        from asebench.api.registry import METHODS
        broken = load_plugin({str(path)!r})
        print(json.dumps({{
            "plugin_broken": broken is not None,
            "names": METHODS.names(),
            "broken_sources": [b.source for b in METHODS.broken()],
            "resnet18": METHODS.get("resnet18").__module__,
        }}))
    """)
    data = run_json_script(code)
    assert data["resnet18"] == "asebench.methods.timm_classifier"
    assert "tf_efficientnet_lite0" in data["names"]
    assert "asebench.methods.timm_classifier" not in data["broken_sources"]
    assert data["plugin_broken"]


@pytest.mark.parametrize("first", ["asebench.datasets.mvtec", "asebench.datasets.folder", "asebench.methods.patchcore"])
def test_importing_one_builtin_first_still_registers_every_builtin(first: str) -> None:
    """A built-in's decorator does not start discovery while its module is half-imported (mvtec <- anomaly_synth)."""
    code = (
        f"import {first}\n"
        "from asebench.api.registry import DATASETS, METHODS\n"
        "print(sorted(DATASETS.names()), len(METHODS.names()), DATASETS._broken, METHODS._broken)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "'anomaly-synth'" in out and "'mvtec'" in out and "[] []" in out, out
