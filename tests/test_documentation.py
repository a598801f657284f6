"""The documentation refers only to files the repository has, and documents the architecture itself."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tracked_text_files() -> list[Path]:
    try:
        names = subprocess.run(
            ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    suffixes = {".py", ".md", ".toml", ".json", ".txt", ".cfg", ".yaml", ".yml"}
    return [REPO / name for name in names if Path(name).suffix in suffixes and (REPO / name).is_file()]


def test_no_file_refers_to_design_md_or_notebooks_the_repository_lacks():
    this_file = Path(__file__).resolve()
    offenders = []
    for path in tracked_text_files():
        if path.resolve() == this_file:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if "design.md" in text.lower():
            offenders.append(f"{path.relative_to(REPO)}: DESIGN.md")
        for notebook in re.findall(r"notebooks/[\w./-]*\.ipynb", text):
            if not (REPO / notebook).is_file():
                offenders.append(f"{path.relative_to(REPO)}: {notebook}")
        if re.search(r"\bthe notebooks\b", text, re.IGNORECASE):  # a vague pointer, not a file
            offenders.append(f"{path.relative_to(REPO)}: 'the notebooks'")
    assert not offenders
    assert (REPO / "notebooks" / "quickstart.ipynb").is_file()  # the one the README promises


def test_architecture_doc_exists_and_local_markdown_links_resolve():
    architecture = REPO / "docs" / "architecture.md"
    text = architecture.read_text(encoding="utf-8")
    for heading in ("## Data flow", "## A pipeline folder", "## Tensor conventions"):
        assert heading in text
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?!https?://|#)[^)\s]+)\)", readme)
    assert "docs/architecture.md" in links
    assert [link for link in links if not (REPO / link).exists()] == []
