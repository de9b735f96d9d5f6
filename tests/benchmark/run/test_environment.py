"""The environment stored with every run and cell: CPU, numeric libraries, thread counts, torch settings."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asebench.run import machine, runner
from asebench.run.config import RunConfig
from asebench.run.environment import SCHEMA, collect_environment

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(autouse=True)
def fresh_cpu_cache() -> Iterator[None]:
    """Each test reads the CPU facts anew, and leaves no fake ones behind for later tests."""
    machine.cpu_model.cache_clear()
    yield
    machine.cpu_model.cache_clear()


def test_environment_records_cpu_threadpools_and_thread_variables() -> None:
    np.ones((4, 4)) @ np.ones((4, 4))  # numpy's BLAS is loaded
    environment = collect_environment()
    assert environment["schema"] == SCHEMA
    cpu = environment["cpu"]
    assert set(cpu) == {"model", "vendor", "flags", "usable_cores"}
    assert cpu["model"] is None or isinstance(cpu["model"], str)
    assert cpu["flags"] is None or (cpu["flags"] == sorted(cpu["flags"]) and set(cpu["flags"]) <= machine.SIMD_FLAGS)
    assert cpu["usable_cores"] is None or 1 <= cpu["usable_cores"] <= (environment["cpu_count"] or 1)
    pools = environment["threadpools"]
    assert isinstance(pools, list) and pools, "numpy's BLAS is a threadpool"
    for pool in pools:
        assert {"user_api", "internal_api", "version", "num_threads", "filename"} <= set(pool)
        assert "filepath" not in pool and "/" not in pool["filename"] and "\\" not in pool["filename"]
        assert isinstance(pool["num_threads"], int)
    assert any(pool["user_api"] == "blas" for pool in pools)
    assert list(environment["env_vars"]) == list(machine.THREAD_VARIABLES)


def test_thread_variables_and_torch_settings_are_read_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert collect_environment()["env_vars"]["OMP_NUM_THREADS"] == "3"
    torch = pytest.importorskip("torch")
    info = collect_environment()["torch"]
    assert isinstance(info["threads"], int) and isinstance(info["interop_threads"], int)
    assert isinstance(info["deterministic_algorithms"], bool) and isinstance(info["mkldnn_enabled"], bool)
    assert info["float32_matmul_precision"] in {"highest", "high", "medium"}
    assert isinstance(info["cpu_capability"], str)
    assert set(info["build"]) == {"blas", "lapack", "mkl", "onednn", "openmp"}
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", not info["cudnn_benchmark"])
    assert collect_environment()["torch"]["cudnn_benchmark"] is not info["cudnn_benchmark"]


def test_collecting_never_fails_without_threadpoolctl_or_proc_cpuinfo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # the import raises ImportError
    monkeypatch.setattr(machine, "CPUINFO", tmp_path / "no-such-file")
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    environment = collect_environment()
    assert environment["threadpools"] is None
    assert {key: environment["cpu"][key] for key in ("model", "vendor", "flags")} == dict.fromkeys(
        ("model", "vendor", "flags")
    )


def test_a_failing_threadpool_query_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import threadpoolctl

    def broken() -> Any:
        raise OSError("dlopen went wrong")

    monkeypatch.setattr(threadpoolctl, "threadpool_info", broken)
    assert collect_environment()["threadpools"] is None


def test_arm_cpuinfo_gives_the_allow_listed_features(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp sve2 asimd evtstrm aes crc32 sve asimddp\n"
        "CPU implementer\t: 0x41\n\nprocessor\t: 1\nFeatures\t: fp avx512f\n"
    )
    monkeypatch.setattr(machine, "CPUINFO", cpuinfo)
    monkeypatch.setattr(machine.platform, "processor", lambda: "aarch64")
    cpu = collect_environment()["cpu"]
    assert cpu["flags"] == ["asimd", "asimddp", "sve", "sve2"]  # the first processor's, sorted, allow-listed
    assert cpu["vendor"] == "0x41" and cpu["model"] == "aarch64"


def test_the_static_facts_are_read_once_for_a_whole_run(
    monkeypatch: pytest.MonkeyPatch, tiny_folder_dataset: Any, tmp_path: Path
) -> None:
    reads = []
    original = machine.read_cpuinfo
    monkeypatch.setattr(machine, "read_cpuinfo", lambda: reads.append(1) or original())
    config = RunConfig(
        methods=["majority", "toy-constant", "toy-unavailable"],
        datasets=["folder"],
        dataset_options={"folder": {"root": str(tiny_folder_dataset())}},
        seeds=[0, 1],
        device="cpu",
        run_dir=tmp_path / "run",
        bootstrap={"samples": 5},
        plugins=[str(FIXTURES / "toy_methods.py")],
    )
    outcome = runner.run(config)
    assert len(outcome.records) >= 6
    assert all(record["environment"]["cpu"] == outcome.environment["cpu"] for record in outcome.records)
    assert len(reads) == 1
