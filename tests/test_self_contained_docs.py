"""The repository is all a user has: nothing it says (README, docs/, code and its messages) points outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = ("../shared", "/work/shared", "..\\shared")
PACKAGE_FOLDERS = ("benchmark", "methods", "datasets")


def checked_files() -> list[Path]:
    files = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
    for folder in PACKAGE_FOLDERS:
        files += sorted((REPO_ROOT / folder).rglob("*.py"))
    return files


@pytest.mark.parametrize("path", checked_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_reference_outside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [f"line {text[: text.index(s)].count(chr(10)) + 1}: {s}" for s in OUTSIDE if s in text]
    assert not found, f"{path.relative_to(REPO_ROOT)} points outside the repository ({', '.join(found)})"


def test_docs_the_readme_links_exist() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/datasets.md", "docs/paper-model-defaults.md", "docs/plugins.md"):
        assert f"]({page})" in readme and (REPO_ROOT / page).is_file(), page
