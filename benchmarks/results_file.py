"""benchmarks/RESULTS.md: each benchmark writes under its own heading, atomically, and leaves other sections as they are.

Scripts in this folder import it by name (``python benchmarks/<script>.py`` puts this folder on ``sys.path``).
"""

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(heading: str, text: str, replace: bool = False) -> None:
    """Add ``text`` at the end of the section under ``heading`` (``replace=True``: in place of what it holds), creating
    the file or the heading when absent. A section runs to the next ``## `` heading."""
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    text = text.strip("\n")
    if heading in current:
        before, after = current.split(heading, 1)
        body, found, rest = after.partition("\n## ")
        body = "" if replace else body.rstrip("\n")
        current = f"{before}{heading}{body}\n\n{text}\n" + (f"\n## {rest}" if found else "")
    else:
        current = current.rstrip("\n") + f"\n\n{heading}\n\n{text}\n"
    partial = RESULTS.with_name(f".{RESULTS.name}.partial")
    partial.write_text(current, encoding="utf-8")
    partial.replace(RESULTS)
