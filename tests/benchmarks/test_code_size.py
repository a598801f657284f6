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
    assert code_size._text_size(packed) == (1, 1, 8)  # result = call ( first , second )
    assert code_size._text_size(spread) == (6, 4, 9)  # the trailing comma is one more token
    assert code_size._text_size("x = 1\n") == (1, 1, 3)


def test_code_lines_leave_out_docstrings_but_not_other_strings():
    text = 'def f():\n    """Doc\n    string."""\n    return """not a\n    docstring"""\n'
    assert code_size._text_size(text) == (5, 3, 8)  # def f ( ) : "doc" return "..." ; lines 1, 4, 5


def test_per_commit_rows_add_up_to_the_change_of_the_range():
    if not (code_size.ROOT / ".git").exists():
        pytest.skip("needs the git history of a checkout")
    head, parent = "HEAD", "HEAD~3"
    rows = [line for line in code_size._per_commit(parent)[1:] if not line.startswith("  |")]  # first-parent rows
    summed = tuple(sum(int(row.split()[i]) for row in rows) for i in range(3))
    after, before = code_size._refactored_size(head), code_size._refactored_size(parent)
    assert summed == tuple(a - b for a, b in zip(after, before))


def test_a_baseline_that_is_not_a_commit_is_a_usage_error():
    result = subprocess.run([sys.executable, str(SCRIPT), "--baseline", "no-such-rev"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "--baseline: 'no-such-rev' is not a commit of this repository" in result.stderr
