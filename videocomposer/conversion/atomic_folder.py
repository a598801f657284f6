"""Write a folder completely or not at all: build it under a temporary name beside the target, then rename."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
    so a failed conversion never leaves a half-written folder."""
    output = check_output_folder(output, argument)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent))
    try:
        yield staging
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
