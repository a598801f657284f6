"""Runs diffusers' own common test mixins on our pipeline and models (tests/diffusers_mixins) and records the counts.

diffusers' PyPI sdist carries no `tests/` package (only `tests/testing_utils.py`), so the mixins come from a diffusers
checkout; they are never copied into this repository. Get one (a clone, or `git archive <commit> tests | tar x`), then

    python benchmarks/run_diffusers_mixins.py --diffusers-tests /path/to/diffusers [--revision COMMIT]

It runs `pytest tests/diffusers_mixins` with `VIDEOCOMPOSER_DIFFUSERS_TESTS` set to that folder, prints passed /
skipped / failed counts with every skip reason, and writes them to benchmarks/RESULTS.md with the diffusers commit
(`git rev-parse HEAD` of the folder, or `--revision`). Exit status: pytest's (2 for a bad argument).
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from results_file import write_section

REPO = Path(__file__).resolve().parents[1]
HEADING = "## run_diffusers_mixins: diffusers' common pipeline and model test mixins"
MIXIN_FILES = ("tests/pipelines/test_pipelines_common.py", "tests/models/testing_utils/common.py")


def checkout_revision(folder: Path) -> str | None:
    """The commit checked out in ``folder``, or ``None`` when it is no git checkout."""
    result = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def count_outcomes(junit_xml: Path) -> tuple[collections.Counter, collections.Counter, list[str]]:
    """(outcome -> count, skip reason -> count, ids of failed or erroring tests) from a pytest JUnit report."""
    outcomes, reasons, broken = collections.Counter(), collections.Counter(), []
    for case in ElementTree.parse(junit_xml).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        marks = {child.tag: child for child in case}
        if "skipped" in marks:
            outcomes["skipped"] += 1
            reasons[marks["skipped"].get("message", "").removeprefix("Skipped: ")] += 1
        elif "failure" in marks or "error" in marks:
            outcomes["failed" if "failure" in marks else "error"] += 1
            broken.append(name)
        else:
            outcomes["passed"] += 1
    return outcomes, reasons, broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diffusers-tests", required=True, type=Path,
                        help="a diffusers checkout: the folder that holds diffusers' tests/ package")  # fmt: skip
    parser.add_argument("--revision", help="the diffusers commit of that folder (default: its git HEAD)")
    parser.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md as it is")
    args = parser.parse_args(argv)
    folder = args.diffusers_tests.expanduser().resolve()
    missing = [name for name in MIXIN_FILES if not (folder / name).is_file()]
    if missing:
        parser.error(f"--diffusers-tests {folder}: expected a diffusers checkout holding {missing}")
    revision = args.revision or checkout_revision(folder)
    if revision is None:
        parser.error(f"--diffusers-tests {folder} is no git checkout: give its diffusers commit with --revision")

    import diffusers
    import torch

    environment = {**os.environ, "VIDEOCOMPOSER_DIFFUSERS_TESTS": str(folder), "OMP_NUM_THREADS": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "junit.xml"
        start = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "pytest",
            "tests/diffusers_mixins",
            "-p",
            "no:warnings",
            f"--junitxml={report}",
        ]
        returncode = subprocess.run(command, cwd=REPO, env=environment).returncode
        seconds = time.perf_counter() - start
        if not report.is_file():
            print(f"pytest wrote no report (exit status {returncode})", file=sys.stderr)
            return returncode or 1
        outcomes, reasons, broken = count_outcomes(report)

    device = "CUDA" if torch.cuda.is_available() else f"CPU {platform.machine()}"
    counts = ", ".join(f"{outcomes[key]} {key}" for key in ("passed", "skipped", "failed", "error") if outcomes[key])
    lines = [
        f"{time.strftime('%Y-%m-%d')}, {device}, 1 thread, diffusers {diffusers.__version__} installed, torch "
        f"{torch.__version__}; mixins from huggingface/diffusers at `{revision}`. Command: "
        f"`python benchmarks/run_diffusers_mixins.py --diffusers-tests DIR`. Wall time {seconds:.0f} s.",
        "",
        f"**{counts}**" + (f": {', '.join(broken)}" if broken else ""),
        "",
        "| skipped | reason |",
        "|---:|---|",
        *(f"| {n} | {reason.replace('|', '/')} |" for reason, n in reasons.most_common()),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        write_section(HEADING, text, replace=True)
    return returncode


if __name__ == "__main__":
    sys.exit(main())
