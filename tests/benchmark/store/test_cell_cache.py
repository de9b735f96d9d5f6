"""The cell cache on its own: what goes in, what comes out, and what counts as a miss."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from asebench.api.records import SCHEMA_VERSION, CellKey, CellRecord
from asebench.store.cell_cache import CONTEXT_FILE, CellCache, weights_unchanged

KEY = CellKey("toy", "folder", "binary", 0, 0, "abcdef0123")
CONTEXT = {"python": "3.11.7", "run": {"episodes": {"count": 600}}}
MAPS = "folder__binary__toy__s0_f0__abcdef0123.anomaly_maps.npy"


def ok_record(**method: Any) -> CellRecord:
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "cell": {
            "method": "toy",
            "dataset": "folder",
            "task": "binary",
            "seed": 0,
            "fold": 0,
            "config_hash": "abcdef0123",
        },
        "status": "ok",
        "predictions": {"y_pred": [0, 1, 1]},
        "artifacts": {"anomaly_maps": MAPS},
        "method": {"provenance": {}, **method},
    }
    return record  # type: ignore[return-value]


def test_a_kept_record_comes_back_with_its_arrays(tmp_path: Path) -> None:
    cache = CellCache(tmp_path, CONTEXT)
    maps = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    cache.put(KEY, ok_record(), {MAPS: maps})

    found = CellCache(tmp_path, copy.deepcopy(CONTEXT)).get(KEY)
    assert found is not None
    record, arrays = found
    assert record == json.loads(json.dumps(ok_record()))
    np.testing.assert_array_equal(arrays[MAPS], maps)
    assert json.loads((cache.path / CONTEXT_FILE).read_text()) == CONTEXT  # what the folder's hash covers


def test_another_context_is_another_folder(tmp_path: Path) -> None:
    cache = CellCache(tmp_path, CONTEXT)
    cache.put(KEY, ok_record(), {MAPS: np.zeros(3, dtype=np.float32)})
    other = CellCache(tmp_path, {**CONTEXT, "run": {"episodes": {"count": 10}}})
    assert other.path != cache.path and other.get(KEY) is None
    assert cache.path.parent == tmp_path / "cells"


def test_only_ok_records_are_kept(tmp_path: Path) -> None:
    cache = CellCache(tmp_path, CONTEXT)
    for status in ("failed", "skipped"):
        cache.put(KEY, {**ok_record(), "status": status}, {})  # type: ignore[typeddict-item]
    assert cache.get(KEY) is None
    assert not (cache.path / "cells").exists()


def test_a_damaged_entry_is_a_miss_not_an_error(tmp_path: Path) -> None:
    cache = CellCache(tmp_path, CONTEXT)
    cache.put(KEY, ok_record(), {MAPS: np.zeros(3, dtype=np.float32)})
    (cache.path / "cells" / MAPS).unlink()
    assert cache.get(KEY) is None  # a record without its array is no hit

    cache.put(KEY, ok_record(), {MAPS: np.zeros(3, dtype=np.float32)})
    (cache.path / "cells" / KEY.filename).write_text("{not json", encoding="utf-8")
    assert cache.get(KEY) is None


def test_a_record_is_reused_only_while_its_weights_file_is_unchanged(tmp_path: Path) -> None:
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"first weights")
    digest = hashlib.sha256(b"first weights").hexdigest()
    record = ok_record(provenance={"weights_path": str(weights), "weights_sha256": digest})
    cache = CellCache(tmp_path / "cache", CONTEXT)
    cache.put(KEY, record, {MAPS: np.zeros(3, dtype=np.float32)})
    assert cache.get(KEY) is not None

    weights.write_bytes(b"other weights, same path")
    assert not weights_unchanged(record) and cache.get(KEY) is None
    weights.unlink()
    assert not weights_unchanged(record)
    assert weights_unchanged(ok_record(provenance={"weights_path": None, "weights_sha256": None}))  # scratch
