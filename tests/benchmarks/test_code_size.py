"""benchmarks/code_size.py: code tokens ignore layout and comments; per-commit rows add up to the size change."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import code_size  # noqa: E402

SCRIPT = Path(code_size.__file__)


def test_tokens_count_code_not_layout_or_comments():
    packed = "result = call(first, second)\n"
    spread = "# a comment\nresult = call(\n    first,\n    second,  # why\n)\n\n"
    assert code_size._text_size(packed) == (1, 8)  # result = call ( first , second )
    assert code_size._text_size(spread) == (6, 9)  # the trailing comma is one more token
    assert code_size._text_size("x = 1\n") == (1, 3)


def test_per_commit_rows_add_up_to_the_change_of_the_range():
    if not (code_size.ROOT / ".git").exists():
        pytest.skip("needs the git history of a checkout")
    head, parent = "HEAD", "HEAD~3"
    rows = [line for line in code_size._per_commit(parent)[1:] if not line.startswith("    ")]
    lines = sum(int(row.split()[0]) for row in rows)
    tokens = sum(int(row.split()[1]) for row in rows)
    after, before = code_size._refactored_size(head), code_size._refactored_size(parent)
    assert (lines, tokens) == (after[0] - before[0], after[1] - before[1])


def test_a_baseline_that_is_not_a_commit_is_a_usage_error():
    result = subprocess.run([sys.executable, str(SCRIPT), "--baseline", "no-such-rev"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "--baseline: 'no-such-rev' is not a commit of this repository" in result.stderr
