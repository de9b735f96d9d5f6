"""report.html seen in a real headless Chromium (bench/report_in_browser.py): non-blank, every figure decoded.

Slow (Chromium starts twice, the report draws its figures) and skipped where no
Chromium is installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "report_in_browser.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("report_in_browser", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_every_figure_of_a_synthetic_report_is_seen_in_chromium(tmp_path: Path) -> None:
    script = load_script()
    chromium = script.find_chromium()
    if chromium is None:
        pytest.skip("no Chromium installed (apt-get install -y chromium)")
    page, expected = script.synthetic_report(tmp_path)
    assert {"cd_diagram", "kshot"} <= {stem.split("__")[0] for stem in expected}
    assert script.check_page(page, chromium, expected, tmp_path, 3.0) == []


@pytest.mark.slow
def test_a_figure_missing_from_the_page_is_reported(tmp_path: Path) -> None:
    script = load_script()
    chromium = script.find_chromium()
    if chromium is None:
        pytest.skip("no Chromium installed (apt-get install -y chromium)")
    page = tmp_path / "page.html"
    page.write_text("<html><body><h1>text only</h1></body></html>", encoding="utf-8")
    problems = script.check_page(page, chromium, ["kshot__x__binary"], tmp_path, 3.0)
    assert "figure kshot__x__binary: not in the page" in problems
