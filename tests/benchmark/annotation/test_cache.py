"""Annotation cache keys are pinned: a cache written by an earlier version (or before a refactoring) must still hit.

The expected digests are sha256 values of the canonical JSON keys; they name
no module, so moving code never invalidates a warm cache. A change here means
every user's cached OCR readings, features and texts would be recomputed.
"""

from __future__ import annotations

from pathlib import Path

from asebench.annotation.cache import AnnotationCache, TextKey
from asebench.domains.ase.ocr_reading import OcrReading

VLM_PROMPT = "Please comprehensively describe the distribution and shape of AOI image."
RAPIDOCR_VERSION = "1.4.4+layout1+min0.5+right-half"


def test_text_keys_are_pinned() -> None:
    key = TextKey(
        "a" * 64, "vlm", "dot-cloud-describer", "dot-cloud-measurement", "1+measure1", VLM_PROMPT, "b" * 64, 0
    )
    assert key.digest() == "8127667876514260dadabff93d9968439a0db7a506696f8c3cc3863bd0ad6518"


def test_ocr_and_feature_entries_land_at_pinned_paths_and_read_back(tmp_path: Path) -> None:
    cache = AnnotationCache(tmp_path)
    reading = OcrReading.from_flat({"count_r05": 12, "x_avg": -1.25}, "rapidocr", RAPIDOCR_VERSION)
    cache.put_ocr("c" * 64, reading)
    cache.put_features("c" * 64, "1", {"offset": 0.5})
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")) == [
        "features/51/51d37b75725eebb7bc4e440425ddf315bc5a1c9d5426958b374255370da6fe78.json",
        "ocr/b0/b0479d2caf7bfa9d0f236784005f40bd9cb3e264f713627906363e47b4e91df2.json",
    ]
    assert cache.get_ocr("c" * 64, "rapidocr", RAPIDOCR_VERSION, OcrReading.from_json) == reading
    assert cache.get_ocr("c" * 64, "rapidocr", "other", OcrReading.from_json) is None
    assert cache.get_features("c" * 64, "1") == {"offset": 0.5}


def test_an_entry_the_domain_cannot_decode_is_a_miss(tmp_path: Path) -> None:
    cache = AnnotationCache(tmp_path)
    cache.put_ocr("d" * 64, OcrReading.empty("rapidocr", RAPIDOCR_VERSION))

    def refuse(payload: object) -> OcrReading:
        raise ValueError("not my format")

    assert cache.get_ocr("d" * 64, "rapidocr", RAPIDOCR_VERSION, refuse) is None
