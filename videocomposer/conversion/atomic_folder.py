"""Write a converted folder completely or not at all (`videocomposer.atomic_files.atomic_folder`), checked first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..atomic_files import atomic_folder as _atomic_folder


def check_output_folder(output: str | Path, argument: str = "output") -> Path:
    """``output`` as a `Path` that does not exist yet and whose parent folder exists (checked before heavy work)."""
    output = Path(output)
    if output.exists():
        raise ValueError(f"{argument}: {str(output)!r} already exists; choose a new folder")
    if not output.parent.is_dir():
        raise ValueError(f"{argument}: the parent folder {str(output.parent)!r} does not exist")
    return output


@contextmanager
def atomic_folder(output: str | Path, argument: str = "output") -> Iterator[Path]:
    """Yield a temporary folder beside ``output``; on success it is renamed to ``output``, on error it is removed,
    so a failed conversion never leaves a half-written folder; the folder gets the umask's permissions."""
    with _atomic_folder(check_output_folder(output, argument)) as staging:
        yield staging
