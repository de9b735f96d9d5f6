"""Per-cell records and the run directory that holds them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from asebench.api.errors import ResultsError
from asebench.api.records import SCHEMA_VERSION, CellKey
from asebench.scoring.cell import classification_report
from asebench.store.run_directory import RunDirectory, load_record, merge_records

# -- helpers -------------------------------------------------------------------


def key(method="majority", dataset="ase-synth", task="multiclass", seed=0, fold=0, config_hash="abc123") -> CellKey:
    return CellKey(method, dataset, task, seed, fold, config_hash)


def record(k: CellKey, status="ok", created_at="2024-01-01T00:00:00+00:00", macro_f1=0.5, **extra) -> dict:
    rec = {
        "schema_version": SCHEMA_VERSION,
        "cell": k.as_dict(),
        "status": status,
        "error": {"type": "RuntimeError", "message": "boom"} if status == "failed" else None,
        "skip_reason": "no weights" if status == "skipped" else None,
        "method": {"name": k.method, "family": "baseline"},
        "created_at": created_at,
    }
    if status == "ok":
        rec["metrics"] = {"macro_f1": macro_f1}
    rec.update(extra)
    return rec


# -- CellKey ------------------------------------------------------------------


def test_cell_key_filename_and_dict():
    k = key(seed=3, fold=2)
    assert k.filename == "ase-synth__multiclass__majority__s3_f2__abc123.json"
    assert k.as_dict() == {
        "method": "majority",
        "dataset": "ase-synth",
        "task": "multiclass",
        "seed": 3,
        "fold": 2,
        "config_hash": "abc123",
    }
    assert k.label() == "majority | ase-synth multiclass | seed 3 fold 2"


@pytest.mark.parametrize("method", ["a/b*c", "../../etc/passwd", "x y:z?", "a\\b", 'naïve|m<>"', "\x00nul"])
def test_cell_key_filename_is_filesystem_safe(tmp_path, method):
    k = key(method=method, dataset="my/data set")
    name = k.filename
    assert re.fullmatch(r"[A-Za-z0-9._-]+\.json", name), name
    assert "/" not in name and "\\" not in name
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    path = run.write_record(k, record(k))
    assert path.parent == run.cells_dir
    assert run.read_record(k)["cell"]["method"] == method  # identity kept inside the record


def test_cell_key_filename_specific_mapping():
    assert key(method="a/b*c").filename == "ase-synth__multiclass__a_b_c-16bb10__s0_f0__abc123.json"


# -- prepare ---------------------------------------------------------------------


def test_prepare_creates_cells_dir(tmp_path):
    run = RunDirectory(tmp_path / "deep" / "run")
    run.prepare()
    assert run.cells_dir.is_dir()
    assert os.listdir(run.path) == ["cells"]  # the write probe is removed
    run.prepare()  # idempotent


def test_prepare_read_only_directory_raises_results_error(tmp_path):
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    os.chmod(readonly, 0o500)
    try:
        if os.access(readonly, os.W_OK):
            pytest.skip("running with privileges that ignore directory permissions (root)")
        with pytest.raises(ResultsError) as info:
            RunDirectory(readonly / "run").prepare()
        assert str(readonly / "run") in str(info.value)
        assert "--run-dir" in str(info.value)
        # an existing but read-only run directory is refused as well
        with pytest.raises(ResultsError, match=re.escape(str(readonly))):
            RunDirectory(readonly).prepare()
    finally:
        os.chmod(readonly, 0o700)


def test_prepare_under_a_regular_file_raises_results_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("I am a file")
    target = blocker / "run"
    with pytest.raises(ResultsError) as info:
        RunDirectory(target).prepare()
    message = str(info.value)
    assert str(target) in message and "not writable" in message
    assert blocker.read_text() == "I am a file"


def test_write_record_failure_is_results_error(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    k = key()
    run.record_path(k).mkdir()  # a directory where the record should go
    with pytest.raises(ResultsError, match="cannot write result record"):
        run.write_record(k, record(k))


# -- write / read --------------------------------------------------------------------


def test_write_read_roundtrip(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    k = key()
    rec = record(k, metrics={"macro_f1": 0.75, "per_class": [{"name": "a", "f1": 1.0}]})
    path = run.write_record(k, rec)
    assert path == run.cells_dir / k.filename
    assert run.read_record(k) == rec
    assert json.loads(path.read_text()) == rec
    assert run.read_record(key(seed=9)) is None


@pytest.mark.parametrize("samples", [50, 0], ids=["bootstrap", "bootstrap-disabled"])
def test_a_classification_report_is_storable(tmp_path, samples):
    report = classification_report(np.array([0, 1, 1]), np.array([0, 1, 0]), ("a", "b"), bootstrap_samples=samples)
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    k = key()
    run.write_record(k, record(k, metrics=report))
    stored = run.read_record(k)["metrics"]
    assert stored["macro_f1"] == pytest.approx(report["macro_f1"])
    assert stored["bootstrap"]["samples"] == samples


def test_write_json_and_text(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    assert run.write_json("config.json", {"b": 1, "a": 2}).read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert run.write_text("summary.md", "# hi\n").read_text() == "# hi\n"


def test_records_sorted_by_file_name(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    keys = [key(method="zeta"), key(method="alpha", seed=1), key(method="alpha", seed=0), key(dataset="aaa")]
    for k in keys:
        run.write_record(k, record(k))
    (run.cells_dir / "notes.txt").write_text("ignored")
    records = run.records()
    names = [CellKey(**r["cell"]).filename for r in records]
    assert names == sorted(names)
    assert len(records) == 4
    assert records[0]["cell"]["dataset"] == "aaa"


def test_records_on_non_run_directory(tmp_path):
    with pytest.raises(ResultsError, match="not a run directory"):
        RunDirectory(tmp_path / "empty").records()


def test_records_empty_run(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    assert run.records() == []


# -- load_record -----------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_record_rejects_newer_schema(tmp_path):
    rec = record(key(), schema_version=SCHEMA_VERSION + 1)
    path = _write(tmp_path / "new.json", json.dumps(rec))
    with pytest.raises(
        ResultsError, match=rf"schema_version {SCHEMA_VERSION + 1}; this asebench reads up to {SCHEMA_VERSION}"
    ):
        load_record(path)


@pytest.mark.parametrize("version", [None, "1", 1.0])
def test_load_record_rejects_missing_or_non_int_schema(tmp_path, version):
    rec = record(key())
    if version is None:
        del rec["schema_version"]
    else:
        rec["schema_version"] = version
    with pytest.raises(ResultsError, match="schema_version"):
        load_record(_write(tmp_path / "r.json", json.dumps(rec)))


@pytest.mark.parametrize("payload", [[1, 2], "text", {"status": "ok"}, {"cell": {}}, 3])
def test_load_record_rejects_non_records(tmp_path, payload):
    path = _write(tmp_path / "x.json", json.dumps(payload))
    with pytest.raises(ResultsError, match="is not an asebench cell record") as info:
        load_record(path)
    assert str(path) in str(info.value)


def test_load_record_rejects_invalid_json(tmp_path):
    path = _write(tmp_path / "bad.json", '{"cell": ')
    with pytest.raises(ResultsError, match="unreadable result record") as info:
        load_record(path)
    assert str(path) in str(info.value)


def test_load_record_missing_file(tmp_path):
    with pytest.raises(ResultsError, match="unreadable"):
        load_record(tmp_path / "missing.json")


def test_records_propagate_a_bad_file(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    run.write_record(key(), record(key()))
    _write(run.cells_dir / "zz.json", "not json")
    with pytest.raises(ResultsError, match=r"zz\.json"):
        run.records()


# -- merge_records -------------------------------------------------------------------


def _run_with(root: Path, name: str, records: list[dict]) -> Path:
    run = RunDirectory(root / name)
    run.prepare()
    for rec in records:
        run.write_record(CellKey(**rec["cell"]), rec)
    return run.path


def test_merge_prefers_ok_over_failed(tmp_path):
    k = key()
    a = _run_with(tmp_path, "a", [record(k, "failed", created_at="2024-05-01T00:00:00+00:00")])
    b = _run_with(tmp_path, "b", [record(k, "ok", created_at="2024-01-01T00:00:00+00:00")])
    for order in ([a, b], [b, a]):
        merged = merge_records(order)
        assert len(merged) == 1
        assert merged[0]["status"] == "ok"


def test_merge_status_ranking_and_newest(tmp_path):
    k = key()
    a = _run_with(tmp_path, "a", [record(k, "skipped")])
    b = _run_with(tmp_path, "b", [record(k, "failed", created_at="2030-01-01T00:00:00+00:00")])
    assert merge_records([a, b])[0]["status"] == "skipped"
    old = _run_with(tmp_path, "old", [record(k, "ok", created_at="2024-01-01T00:00:00+00:00", macro_f1=0.1)])
    new = _run_with(tmp_path, "new", [record(k, "ok", created_at="2024-06-01T00:00:00+00:00", macro_f1=0.9)])
    for order in ([old, new], [new, old]):
        assert merge_records(order)[0]["metrics"]["macro_f1"] == 0.9


def test_merge_keeps_one_record_per_cell(tmp_path):
    k1, k2, k3 = key(seed=0), key(seed=1), key(method="cnn")
    a = _run_with(tmp_path, "a", [record(k1), record(k2, "failed")])
    b = _run_with(tmp_path, "b", [record(k2), record(k3)])
    merged = merge_records([a, b])
    identities = [tuple(r["cell"].values()) for r in merged]
    assert len(merged) == 3 and len(set(identities)) == 3
    assert all(r["status"] == "ok" for r in merged)
    assert merge_records([a, b]) == merged  # deterministic order
    assert [r["cell"]["method"] for r in merged] == ["cnn", "majority", "majority"]


def test_merge_keeps_only_the_newest_configuration_of_a_method(tmp_path):
    old = [record(key(seed=s)) for s in (0, 1)]
    new = record(key(seed=0, config_hash="other"), created_at="2024-06-01T00:00:00+00:00")
    other_method = record(key(method="cnn"))
    merged = merge_records([_run_with(tmp_path, "a", [*old, new, other_method])])
    assert {(r["cell"]["method"], r["cell"]["config_hash"]) for r in merged} == {
        ("majority", "other"),
        ("cnn", "abc123"),
    }


def test_merge_of_nothing():
    assert merge_records([]) == []


def test_merge_rejects_non_run_directory(tmp_path):
    with pytest.raises(ResultsError):
        merge_records([tmp_path / "nope"])


def test_earlier_configurations_find_the_newest_other_hash_of_the_same_cell(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    current = key(config_hash="new")
    older = record(key(config_hash="old1"), created_at="2024-01-01T00:00:00+00:00")
    newer = record(key(config_hash="old2"), created_at="2024-06-01T00:00:00+00:00")
    for rec in (older, newer, record(current), record(key(seed=1, config_hash="old3")), record(key(method="cnn"))):
        run.write_record(CellKey.of(rec), rec)
    (run.cells_dir / "ase-synth__multiclass__majority__s0_f0__broken.json").write_text("{not json")

    found = run.earlier_configurations([current, key(method="never-run")])
    assert list(found) == [current]  # the other seed, the other method and the unreadable file are not it
    assert found[current]["cell"]["config_hash"] == "old2"
