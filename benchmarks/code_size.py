"""Library size before and after issue 19 (one condition schema): per folder and for the refactored files.

Usage: ``python benchmarks/code_size.py [--baseline REV] [--per-commit | --write]``. The baseline is read with ``git
show``; "now" is the working tree. Files: ``*.py`` (tests, benchmarks and ``videocomposer/assets`` excluded). Three
counts: physical lines; code lines (lines holding code: no blank, comment-only or docstring lines); code tokens
(names, operators, literals; no comments, line breaks or indentation), which do not move when code is only
reformatted, so they tell a real cut from a denser layout. ``--per-commit`` shows where the refactored set's change
came from: the change of each first-parent commit since the baseline and, under a merge, of each commit of the merged
branch (against the merge base), so the growth can be traced to the issue each commit names.
"""

from __future__ import annotations

import argparse
import ast
import functools
import io
import subprocess
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "c4a2364^1"
FOLDERS = ("pipelines", "condition_extractors", "videocomposer")
EXCLUDED = ("videocomposer/assets/",)
# The files issue 19 refactored; globs are expanded at both revisions.
REFACTORED = (
    "pipelines/pipeline_videocomposer.py",
    "pipelines/long_video.py",
    "pipelines/long_video_noise.py",
    "videocomposer/conditions.py",
    "condition_extractors/*.py",
    "videocomposer/models/stc_encoder.py",
    "videocomposer/models/unet_3d.py",
    "videocomposer/models/unet_3d_blocks.py",
    "videocomposer/models/lowrank_temporal.py",
    "videocomposer/models/adapter_files.py",
    "videocomposer/models/attention_slicing.py",
    "videocomposer/commands/generate.py",
    "videocomposer/commands/extract.py",
    "videocomposer/commands/_checks.py",
    "videocomposer/app/session.py",
    "videocomposer/visualize.py",
    "videocomposer/training/*.py",
    "videocomposer/data/video_dataset.py",
    "videocomposer/demo/build.py",
    "videocomposer/demo/model_card.py",
    "videocomposer/demo/components.py",
    "videocomposer/train.py",
)
LAYOUT = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
LITERALS = r'"(single_sketch|local_image|masked_video|motion_vectors|masked|sketch|depth|motion|canny|image|mask)"'


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def _py_files(rev: str | None) -> list[str]:
    if rev is None:
        listed = _git("ls-files", "--cached", "--others", "--exclude-standard", "--", *FOLDERS).split()
        listed = [p for p in listed if (ROOT / p).is_file()]
    else:
        listed = _git("ls-tree", "-r", "--name-only", rev, "--", *FOLDERS).split()
    return sorted(p for p in listed if p.endswith(".py") and not p.startswith(EXCLUDED))


def _text_size(text: str) -> tuple[int, int, int]:
    """(physical lines, code lines, code tokens) of a Python source text. Code lines hold a token that is not a
    docstring (blank, comment-only and docstring lines do not count)."""
    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    code_lines, tokens = set(), 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in LAYOUT:
            tokens += 1
            code_lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len(text.splitlines()), len(code_lines), tokens


def _size(path: str, rev: str | None) -> tuple[int, int, int]:
    """`_text_size` of one file at ``rev`` (``None``: the working tree)."""
    return _text_size((ROOT / path).read_text() if rev is None else _git("show", f"{rev}:{path}"))


@functools.cache
def _blob_size(blob: str) -> tuple[int, int, int]:
    return _text_size(_git("cat-file", "blob", blob))


def _refactored_size(rev: str) -> tuple[int, int, int]:
    """`_text_size` summed over the refactored set at commit ``rev``, read from its tree (blobs counted once)."""
    total = (0, 0, 0)
    for line in _git("ls-tree", "-r", rev, "--", *FOLDERS).splitlines():
        blob, path = line.split()[2], line.split("\t", 1)[1]
        if path.endswith(".py") and not path.startswith(EXCLUDED) and any(_matches(path, g) for g in REFACTORED):
            total = tuple(a + b for a, b in zip(total, _blob_size(blob)))
    return total


def _per_commit(baseline: str) -> list[str]:
    """The refactored set's change per first-parent commit; a merge's branch commits indented."""
    out = [f"Refactored set, change per commit since {baseline} (lines, code lines, tokens; a merged branch's own "
           "commits follow its merge, marked |)"]  # fmt: skip
    for entry in _git("log", "--first-parent", "--reverse", "--format=%H %P", f"{baseline}..HEAD").splitlines():
        commit, first, *merged = entry.split()
        rows = [(commit, first, "")]
        if merged:
            base = _git("merge-base", first, merged[0]).strip()
            parents = [base, *_git("rev-list", "--reverse", "--first-parent", f"{base}..{merged[0]}").split()]
            rows += [(child, parent, "  |") for parent, child in zip(parents, parents[1:])]
        for child, parent, indent in rows:
            change = [a - b for a, b in zip(_refactored_size(child), _refactored_size(parent))]
            subject = _git("log", "-1", "--format=%h %s", child).strip()[:100]
            out.append(indent + "".join(f"{value:>+7}" for value in change) + f"  {subject}")
    return out


def _row(label: str, width: int, paths: list[str], before: dict, after: dict) -> str:
    """One table row: each measure of ``paths`` summed, before, after and the change (a missing file counts 0)."""
    cells = ""
    for i in range(3):
        old, new = (sum(sizes[p][i] for p in paths if p in sizes) for sizes in (before, after))
        cells += f"{old:>8}{new:>8}{new - old:>+7} "
    return f"{label:<{width}}{cells}"


def _matches(path: str, pattern: str) -> bool:
    if "*" not in pattern:
        return path == pattern
    folder, glob = pattern.rsplit("/", 1)
    return path.rsplit("/", 1)[0] == folder and Path(path).match(glob)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with (default %(default)s)")
    parser.add_argument("--per-commit", action="store_true", help="the refactored set's change per commit")
    parser.add_argument("--write", action="store_true", help="also write both reports into RESULTS.md")
    args = parser.parse_args()
    rev = args.baseline
    if subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True
    ).returncode:
        parser.error(f"--baseline: {rev!r} is not a commit of this repository")
    if args.per_commit:
        print("\n".join(_per_commit(rev)))
        return
    report = _sizes(rev)
    print("\n".join(report))
    if args.write:
        from results_file import write_section

        lines = [*report, "", *_per_commit(rev)]
        write_section(
            "## code_size: library size against issue 19's baseline",
            f"`python benchmarks/code_size.py --write` (baseline `{rev}`, HEAD "
            f"`{_git('rev-parse', '--short', 'HEAD').strip()}`, working tree):\n\n```\n" + "\n".join(lines) + "\n```",
            replace=True,
        )


def _sizes(rev: str) -> list[str]:
    """The size tables: per folder, per file of the refactored set, and the condition-name literals left over."""
    before = {p: _size(p, rev) for p in _py_files(rev)}
    after = {p: _size(p, None) for p in _py_files(None)}
    columns = f"{'before':>8}{'after':>8}{'change':>7} " * 3
    out = [f"Library size (*.py), baseline {rev} -> working tree: physical lines, code lines, code tokens"]
    out.append(f"{'folder':<28}{columns}")
    for folder in FOLDERS:
        inside = [p for p in {*before, *after} if p.startswith(folder + "/")]
        out.append(_row(folder + "/", 28, inside, before, after))
    out += [_row("total", 28, [*{*before, *after}], before, after), ""]

    # Deleted files count at the baseline (0 now); moved code counts where it lands.
    refactored = sorted(p for p in {*before, *after} if p not in after or any(_matches(p, g) for g in REFACTORED))
    out += ["Refactored set (issue 19)", f"{'file':<48}{columns}"]
    out += [_row(p, 48, [p], before, after) for p in refactored]
    out += [_row("total", 48, refactored, before, after), ""]

    grep = subprocess.run(
        ["git", "grep", "-nE", LITERALS, "--", "videocomposer", "pipelines", "condition_extractors",
         ":!videocomposer/conversion", ":!videocomposer/conditions.py"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    out.append(
        f"Condition-name literals outside the schema and the conversion tables: {len(grep.stdout.splitlines())}"
    )
    return out


if __name__ == "__main__":
    main()
