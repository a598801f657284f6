"""The README's code blocks: every python / bash block is marked, and the ones marked runnable run as written.

A marker is an HTML comment on the line before the block: ``<!-- readme-test: run -->`` or
``<!-- readme-test: skip (the reason) -->``; an unmarked block fails the test, so none is skipped silently. The
runnable blocks run in a temporary folder after `make demo`'s command (``videocomposer demo --output-dir outputs``,
here with 2 steps: the same files; run with the modules of the extras unimportable, as `make demo` installs none of
them): the python blocks one after the other in one interpreter, the bash blocks with
``bash -euo pipefail``, ``videocomposer`` being this checkout's command line.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- readme-test: (run|skip \(.+\)) -->")
CODE = ("python", "bash", "sh", "shell")


WITHOUT_EXTRAS = """import importlib.abc, importlib.util, sys
BLOCKED = set({blocked})
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: None if name.split(".")[0] in BLOCKED else _find_spec(name, package)
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{{name}} belongs to an extra, which make demo does not install", name=name)
sys.meta_path.insert(0, Blocker())
from videocomposer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def extra_modules() -> set[str]:
    """The top-level modules of the packages that only the extras of pyproject.toml install (and that are installed
    here)."""
    import importlib.metadata

    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {_distribution(r) for r in project["dependencies"]}
    extras = {_distribution(r) for group in project["optional-dependencies"].values() for r in group}
    extras -= base | {project["name"]}  # `dev` names the package itself with its extras
    return {module for module, dists in importlib.metadata.packages_distributions().items()
            if any(_distribution(d) in extras for d in dists)}  # fmt: skip


def readme_blocks() -> list[tuple[int, str, str, str]]:
    """(line, language, marker, code) of every fenced python / shell block of README.md."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        if fence.group(1) in CODE:
            marker = MARKER.fullmatch(lines[index - 1].strip()) if index else None
            blocks.append((index + 1, fence.group(1), marker.group(1) if marker else "", "\n".join(lines[index + 1:end])))
        index = end + 1
    return blocks


def test_every_code_block_is_marked():
    unmarked = [f"README.md:{line} ({language})" for line, language, marker, _ in readme_blocks() if not marker]
    assert not unmarked, f"blocks without a readme-test marker on the line before: {unmarked}"
    assert sum(marker == "run" for *_, marker, _ in readme_blocks()) >= 2


@pytest.mark.slow
def test_runnable_blocks_run_after_make_demo(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    command = bin_dir / "videocomposer"  # this checkout's command line (the installed script may be another's)
    command.write_text(f"#!/bin/sh\nexec {sys.executable} -m videocomposer.cli \"$@\"\n")
    command.chmod(0o755)
    python = bin_dir / "python"  # `python` in a bash block is the project's interpreter, as in an activated venv
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    work = tmp_path / "clone"
    work.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(REPO),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")  # fmt: skip

    def run(argv: list[str], what: str) -> None:
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{what} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"

    makefile = (REPO / "Makefile").read_text()
    demo = re.search(r"^demo:.*\n\t\$\(VENV\)/bin/videocomposer (demo .*)$", makefile, flags=re.MULTILINE)
    assert demo, "the Makefile's demo target runs `videocomposer demo ...`"
    assert "$(VENV)/.installed-demo" in makefile.split("\ndemo:")[1].splitlines()[0]  # it installs no extra
    # make demo's command, as `make demo` runs it: the package without its extras (their modules cannot be imported)
    blocked = sorted(extra_modules())
    assert {"gradio", "pytest", "peft"} <= set(blocked)
    (work / "without_extras.py").write_text(WITHOUT_EXTRAS.format(blocked=blocked))
    refused = subprocess.run([sys.executable, "without_extras.py", "app"], cwd=work, env=env, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert refused.returncode == 2 and 'the app needs Gradio: pip install "videocomposer[app]"' in refused.stderr
    run([sys.executable, "without_extras.py", *demo.group(1).split(), "--steps", "2"], "make demo's command")
    assert (work / "outputs" / "source.mp4").is_file() and (work / "outputs" / "stroke.json").is_file()

    for line, language, marker, code in readme_blocks():  # in the README's order: a block may use an earlier one's files
        if marker != "run":
            continue
        if language == "python":  # each python block is a script of its own, as a reader pastes it
            (work / "readme_snippet.py").write_text(f"# README.md:{line}\n{code}")
            run([sys.executable, "readme_snippet.py"], f"the README's python block at line {line}")
        else:
            run(["bash", "-euo", "pipefail", "-c", code], f"the README's bash block at line {line}")
    assert (work / "out.mp4").is_file() and (work / "square.mp4").is_file() and (work / "report.json").is_file()
